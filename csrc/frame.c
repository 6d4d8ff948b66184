/*
 * frame.c - RFC 6455 frame headers for the write path, and masking (both
 * directions: raw-socket connections unmask what they read with it too).
 *
 * The core frames outgoing data messages itself and hands whole batches of
 * frames to lws as raw bytes (LWS_WRITE_HTTP skips lws' own framing in the ws
 * role, and lws still handles TLS and partial sends).  That turns N queued
 * messages into one write instead of N.  No extension is ever negotiated, so
 * frames are always plain: FIN set, RSV bits zero, no fragmentation.
 */
#include <string.h>
#include <sys/random.h>

#include "internal.h"

size_t gws_frame_header(uint8_t *out, uint8_t opcode, size_t len, const uint8_t *mask)
{
	size_t n = 0;
	uint8_t mbit = mask ? 0x80 : 0;

	out[n++] = (uint8_t)(0x80 | opcode);
	if (len < 126) {
		out[n++] = (uint8_t)(mbit | len);
	} else if (len <= 0xffff) {
		out[n++] = (uint8_t)(mbit | 126);
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		int i;

		out[n++] = (uint8_t)(mbit | 127);
		for (i = 7; i >= 0; i--)
			out[n++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	if (mask) {
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

/* XOR with the mask, `offset` being the position of data[0] in the payload. */
void gws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset)
{
	uint8_t m[8];
	size_t i = 0, k;
	uint64_t m64, w;

	for (k = 0; k < 8; k++)
		m[k] = mask[(offset + k) & 3];
	memcpy(&m64, m, 8);
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, data + i, 8);
		w ^= m64;
		memcpy(data + i, &w, 8);
	}
	for (; i < len; i++)
		data[i] ^= m[i & 7];
}

/* Masking keys come from the kernel's CSPRNG (as in Godot), drawn 256 bytes
 * at a time so that a frame does not cost a system call. */
void gws_mask_key(gws_context *ctx, uint8_t out[4])
{
	if (ctx->rnd_off + 4 > sizeof(ctx->rnd)) {
		size_t got = 0;

		while (got < sizeof(ctx->rnd)) {
			ssize_t n = getrandom(ctx->rnd + got, sizeof(ctx->rnd) - got, 0);

			if (n <= 0)
				break;
			got += (size_t)n;
		}
		if (got < sizeof(ctx->rnd))
			lws_get_random(ctx->lws, ctx->rnd + got, sizeof(ctx->rnd) - got);
		ctx->rnd_off = 0;
	}
	memcpy(out, ctx->rnd + ctx->rnd_off, 4);
	ctx->rnd_off += 4;
}
