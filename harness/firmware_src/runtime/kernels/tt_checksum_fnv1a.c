/* FNV-1a 32-bit over parameter bytes (docs section 9); multi-byte elements are hashed as
 * their little-endian bytes so that any host agrees with the device. */
#include "tt_kernels.h"

#define TT_FNV1A_PRIME 16777619u

static uint32_t tt_fnv1a_u32le(uint32_t h, uint32_t v)
{
    for (int32_t b = 0; b < 4; b++) {
        h = (h ^ ((v >> (8 * b)) & 0xFFu)) * TT_FNV1A_PRIME;
    }
    return h;
}

uint32_t tt_checksum_fnv1a(uint32_t h, const uint8_t *bytes, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        h = (h ^ bytes[i]) * TT_FNV1A_PRIME;
    }
    return h;
}

uint32_t tt_checksum_fnv1a_s8(uint32_t h, const int8_t *v, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        h = (h ^ (uint8_t)v[i]) * TT_FNV1A_PRIME;
    }
    return h;
}

uint32_t tt_checksum_fnv1a_s32(uint32_t h, const int32_t *v, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        h = tt_fnv1a_u32le(h, (uint32_t)v[i]);
    }
    return h;
}

uint32_t tt_checksum_fnv1a_f32(uint32_t h, const float *v, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        union {
            float f;
            uint32_t u;
        } bits;
        bits.f = v[i];
        h = tt_fnv1a_u32le(h, bits.u);
    }
    return h;
}
