/* One translation unit may include the kernels' and the protocol's headers together (the protocol's
 * names, generated from protocol_spec.toml into em_protocol_spec.h, all start EM_PROTO_, EM_CMD_,
 * EM_INFER_FLAG_, EM_INFO_ or EM_MEM_): their names differ. */
#include "em_kernels.h"
#include "em_protocol.h"

int both_headers_ok(void) {
  return EM_OK == 0 && EM_PROTO_OK == 0 && EM_ERR_ARG != EM_PROTO_ERR_BAD_ARG &&
         EM_CMD_INFO == 0x01 && EM_INFO_BOARD == 0x03u && EM_MEM_NUM_FIELDS > 0u;
}
