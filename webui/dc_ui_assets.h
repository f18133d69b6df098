/*  dc_ui_assets: the page's files, embedded at build time by gen_assets.py
    (webui/page/ plus Debian's Chart.js), so the binary serves the page with
    no files and no network at run time.                                   */
#ifndef DC_UI_ASSETS_H
#define DC_UI_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *path; //  URL path, "/app.js"
    const char *type; //  Content-Type
    const char *etag; //  quoted content hash
    const unsigned char *data;
    size_t size;
} dc_ui_asset_t;

//  Generated: the table and its length.
extern const dc_ui_asset_t dc_ui_assets[];
extern const size_t dc_ui_assets_count;

#endif
