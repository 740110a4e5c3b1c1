/*
 * Services decode every request from bytes they did not make, into the message's memory
 * pool with a hard cap. Decode each common message type from the input.
 */
#include <stddef.h>
#include <stdint.h>

#include "mentis/pool.h"
#include "mentis/v1/common.pb-c.h"

static void *pool_alloc(void *data, size_t size)
{
    return mentis_pool_alloc(data, size);
}

static void pool_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ProtobufCMessageDescriptor *const types[] = {
        &mentis__v1__health_response__descriptor, &mentis__v1__error_detail__descriptor,
        &mentis__v1__page_request__descriptor, &mentis__v1__timestamp__descriptor,
    };
    mentis_pool_t *pool = NULL;
    if (mentis_pool_create(4096, 1 << 20, &pool) != MENTIS_OK)
        return 0;
    ProtobufCAllocator alloc = {.alloc = pool_alloc, .free = pool_free, .allocator_data = pool};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        ProtobufCMessage *m = protobuf_c_message_unpack(types[i], &alloc, size, data);
        if (m != NULL) {
            /* A decoded message packs again without trouble. */
            size_t n = protobuf_c_message_get_packed_size(m);
            uint8_t *buf = mentis_pool_alloc(pool, n + 1);
            if (buf != NULL && protobuf_c_message_pack(m, buf) != n)
                __builtin_trap();
        }
        mentis_pool_reset(pool);
    }
    mentis_pool_destroy(pool);
    return 0;
}
