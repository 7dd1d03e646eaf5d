/* One translation unit may include the kernels' and the protocol's headers together: their names
 * differ. */
#include "em_kernels.h"
#include "em_protocol.h"

int both_headers_ok(void) {
  return EM_OK == 0 && EM_PROTO_OK == 0 && EM_ERR_ARG != EM_PROTO_ERR_BAD_ARG;
}
