/* TEST DOUBLE of the generated front-end tables header (only the sizes the app uses). */
#ifndef EM_FRONTEND_TABLES_H
#define EM_FRONTEND_TABLES_H
#define EM_FE_WINDOW_SAMPLES 3000
#define EM_FE_SR 8000
#endif
