/*  dc_buf: the one string builder, a growable NUL-terminated byte buffer with
    printf-style appends and JSON string escaping. JSON documents, SSE events,
    metrics pages and MMI replies are built in one of these, so no fixed-size
    buffer ever truncates output silently. Out of memory aborts (assert), as in
    every class of the project: the appends cannot fail. */
#ifndef DC_BUF_H_INCLUDED
#define DC_BUF_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _dc_buf_t dc_buf_t;

//  Create an empty buffer.
dc_buf_t *dc_buf_new(void);

//  Free the buffer and NULL the caller's pointer; safe on NULL.
void dc_buf_destroy(dc_buf_t **self_p);

//  Forget the content, keep the allocation.
void dc_buf_reset(dc_buf_t *self);

//  Append formatted text.
void dc_buf_printf(dc_buf_t *self, const char *format, ...) __attribute__((format(printf, 2, 3)));

//  Append raw bytes.
void dc_buf_append(dc_buf_t *self, const void *data, size_t size);

//  Append a string as a quoted, escaped JSON string ("null" when NULL).
void dc_buf_json_string(dc_buf_t *self, const char *string);

//  Append a number as JSON: finite values with up to 3 decimals, else null.
void dc_buf_json_number(dc_buf_t *self, double value);

//  Destroys the buffer and returns its content, for the caller to free (e.g. to
//  hand to dc_http_set_metrics).
char *dc_buf_detach(dc_buf_t **self_p);

//  Content (always NUL-terminated) and its length without the NUL.
const char *dc_buf_data(const dc_buf_t *self);
size_t dc_buf_size(const dc_buf_t *self);

//  Self-test.
void dc_buf_test(bool verbose);

#endif
