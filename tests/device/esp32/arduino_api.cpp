/* ArduinoCore-API's sources (../shared/vendor/arduinocore-api-1.5.2), built as system headers: its
 * Common.h declares atexit() and main() unlike glibc, which a system header may do. */
#include <api/Common.cpp>
#include <api/IPAddress.cpp>
#include <api/Print.cpp>
#include <api/Stream.cpp>
#include <api/String.cpp>
