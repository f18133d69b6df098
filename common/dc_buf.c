/*  dc_buf: growable text buffer. Capacity doubles, so appending N bytes costs
    O(N) amortised. */
#include "dc_buf.h"
#include "dc_check.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _dc_buf_t {
    char *data;
    size_t size;
    size_t capacity;
};

dc_buf_t *dc_buf_new(void)
{
    dc_buf_t *self = calloc(1, sizeof *self);
    assert(self);
    self->capacity = 256;
    self->data = malloc(self->capacity);
    assert(self->data);
    self->data[0] = 0;
    return self;
}

void dc_buf_destroy(dc_buf_t **self_p)
{
    if (self_p && *self_p) {
        free((*self_p)->data);
        free(*self_p);
        *self_p = NULL;
    }
}

void dc_buf_reset(dc_buf_t *self)
{
    self->size = 0;
    self->data[0] = 0;
}

//  Make room for `extra` more bytes plus the terminating NUL.
static void s_reserve(dc_buf_t *self, size_t extra)
{
    size_t needed = self->size + extra + 1;
    if (needed <= self->capacity)
        return;
    size_t capacity = self->capacity;
    while (capacity < needed)
        capacity *= 2;
    self->data = realloc(self->data, capacity);
    assert(self->data);
    self->capacity = capacity;
}

void dc_buf_printf(dc_buf_t *self, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    size_t room = self->capacity - self->size;
    int length = vsnprintf(self->data + self->size, room, format, args);
    va_end(args);
    assert(length >= 0); //  an encoding error: a bug in the format
    if ((size_t)length >= room) {
        s_reserve(self, (size_t)length);
        va_start(args, format);
        vsnprintf(self->data + self->size, (size_t)length + 1, format, args);
        va_end(args);
    }
    self->size += (size_t)length;
}

void dc_buf_append(dc_buf_t *self, const void *data, size_t size)
{
    s_reserve(self, size);
    memcpy(self->data + self->size, data, size);
    self->size += size;
    self->data[self->size] = 0;
}

void dc_buf_json_string(dc_buf_t *self, const char *string)
{
    if (!string) {
        dc_buf_append(self, "null", 4);
        return;
    }
    dc_buf_append(self, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)string; *c; c++) {
        if (*c == '"' || *c == '\\')
            dc_buf_printf(self, "\\%c", *c);
        else if (*c < 0x20)
            dc_buf_printf(self, "\\u%04x", *c);
        else
            dc_buf_append(self, c, 1);
    }
    dc_buf_append(self, "\"", 1);
}

void dc_buf_json_number(dc_buf_t *self, double value)
{
    if (!isfinite(value))
        dc_buf_append(self, "null", 4);
    else if (value == floor(value) && fabs(value) < 1e15)
        dc_buf_printf(self, "%.0f", value);
    else
        dc_buf_printf(self, "%.3f", value);
}

char *dc_buf_detach(dc_buf_t **self_p)
{
    char *data = (*self_p)->data;
    free(*self_p);
    *self_p = NULL;
    return data;
}

const char *dc_buf_data(const dc_buf_t *self)
{
    return self->data;
}

size_t dc_buf_size(const dc_buf_t *self)
{
    return self->size;
}

void dc_buf_test(bool verbose)
{
    if (verbose)
        printf(" * dc_buf: ");
    dc_buf_t *buf = dc_buf_new();
    DC_CHECK(buf);
    DC_CHECK(dc_buf_size(buf) == 0 && strcmp(dc_buf_data(buf), "") == 0);
    for (int i = 0; i < 1000; i++)
        dc_buf_printf(buf, "%d,", i);
    DC_CHECK(strncmp(dc_buf_data(buf), "0,1,2,", 6) == 0);
    DC_CHECK(dc_buf_size(buf) == strlen(dc_buf_data(buf)));
    dc_buf_reset(buf);
    dc_buf_json_string(buf, "a\"b\\c\n\x01");
    DC_CHECK(strcmp(dc_buf_data(buf), "\"a\\\"b\\\\c\\u000a\\u0001\"") == 0);
    dc_buf_reset(buf);
    dc_buf_json_number(buf, 3);
    dc_buf_append(buf, " ", 1);
    dc_buf_json_number(buf, 2.5);
    dc_buf_append(buf, " ", 1);
    dc_buf_json_number(buf, NAN);
    dc_buf_append(buf, " ", 1);
    dc_buf_json_string(buf, NULL);
    DC_CHECK(strcmp(dc_buf_data(buf), "3 2.500 null null") == 0);
    dc_buf_destroy(&buf);
    dc_buf_destroy(&buf);
    DC_CHECK(buf == NULL);
    buf = dc_buf_new();
    dc_buf_printf(buf, "%s", "kept");
    char *text = dc_buf_detach(&buf);
    DC_CHECK(buf == NULL && strcmp(text, "kept") == 0);
    free(text);
    if (verbose)
        printf("OK\n");
}
