/*  fuzz_frames: turns fuzzer bytes into a multipart message. Each frame is a 2-byte
    little-endian length then that many bytes (clipped at the end of the input), so the
    fuzzer controls frame count, sizes and contents. */
#ifndef FUZZ_FRAMES_H_INCLUDED
#define FUZZ_FRAMES_H_INCLUDED

#include <czmq.h>

static inline zmsg_t *fuzz_frames(const uint8_t *data, size_t size)
{
    zmsg_t *msg = zmsg_new();
    while (size >= 2 && zmsg_size(msg) < 64) {
        size_t len = (size_t)data[0] | (size_t)data[1] << 8;
        data += 2;
        size -= 2;
        if (len > size)
            len = size;
        zmsg_addmem(msg, data, len);
        data += len;
        size -= len;
    }
    return msg;
}

#endif
