/*  dc_ui_buf: a growable NUL-terminated byte buffer with printf-style appends
    and JSON string escaping. Every JSON document, SSE event and metrics page
    the webui produces is built in one of these, so no fixed-size buffer ever
    truncates output silently.                                                */
#ifndef DC_UI_BUF_H
#define DC_UI_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct _dc_ui_buf_t dc_ui_buf_t;

//  Create an empty buffer; NULL when out of memory.
dc_ui_buf_t *dc_ui_buf_new(void);

//  Free the buffer and NULL the caller's pointer; safe on NULL.
void dc_ui_buf_destroy(dc_ui_buf_t **self_p);

//  Forget the content, keep the allocation.
void dc_ui_buf_reset(dc_ui_buf_t *self);

//  Append formatted text. Returns 0, or -1 when out of memory.
int dc_ui_buf_printf(dc_ui_buf_t *self, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

//  Append raw bytes. Returns 0 or -1.
int dc_ui_buf_append(dc_ui_buf_t *self, const void *data, size_t size);

//  Append a string as a quoted, escaped JSON string ("null" when NULL).
int dc_ui_buf_json_string(dc_ui_buf_t *self, const char *string);

//  Append a number as JSON: finite values with up to 3 decimals, else null.
int dc_ui_buf_json_number(dc_ui_buf_t *self, double value);

//  Content (always NUL-terminated) and its length without the NUL.
const char *dc_ui_buf_data(const dc_ui_buf_t *self);
size_t dc_ui_buf_size(const dc_ui_buf_t *self);

//  Self-test.
void dc_ui_buf_test(bool verbose);

#endif
