#include <hiredis/hiredis.h>
#if defined(__GLIBC__)
// mallopt: the client keeps replies' memory in the heap (RedisClusterClient.replyMemory).
#include <malloc.h>
#endif
