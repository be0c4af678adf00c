/*
 * shard_index.c — sharded checkpoints: `model.safetensors.index.json` and
 * `pytorch_model.bin.index.json` share one reader. The JSON's "weight_map"
 * maps tensor name -> shard file; every distinct shard (a plain file name in
 * the index's folder: no '/', '\\', "." or "..", no NUL) is read once with
 * the format's reader, then every listed tensor must have come from the
 * shard the map names. Tensors in shards but not in the map are kept and
 * logged (as the Hugging Face loaders accept them).
 */
#include "io/fileio.h"
#include "io/weights.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INDEX_MAX_BYTES (64u << 20)

static bool plain_file_name(const char *s, size_t len) {
    if (len == 0 || strlen(s) != len) return false;
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return false;
    return strchr(s, '/') == NULL && strchr(s, '\\') == NULL;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

es_status es_weights_read_index(es_weights *w, const char *index_path, es_shard_reader read,
                                es_error *err) {
    void *text;
    size_t len;
    es_status s = es_read_file(index_path, &text, &len, INDEX_MAX_BYTES, err);
    if (s) return s;
    struct json_tokener *tok = json_tokener_new();
    if (!tok) {
        es_free(text);
        return es_errf(err, ES_ERR_NOMEM, "%s: out of memory", index_path);
    }
    /* len <= INDEX_MAX_BYTES < INT_MAX */
    struct json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error je = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    es_free(text);
    if (!root || je != json_tokener_success) {
        json_object_put(root);
        return es_errf(err, ES_ERR_FORMAT, "%s: not valid JSON near byte %zu: %s", index_path,
                       end, json_tokener_error_desc(je));
    }
    struct json_object *wm;
    const char **shards = NULL;
    char *dir = NULL, *path = NULL;
    size_t n_map = 0, n_shards = 0;
    if (!json_object_is_type(root, json_type_object) ||
        !json_object_object_get_ex(root, "weight_map", &wm) ||
        !json_object_is_type(wm, json_type_object)) {
        s = es_errf(err, ES_ERR_FORMAT, "%s: no \"weight_map\" object", index_path);
        goto done;
    }
    n_map = (size_t)json_object_object_length(wm);
    if (n_map == 0) {
        s = es_errf(err, ES_ERR_FORMAT, "%s: \"weight_map\" is empty", index_path);
        goto done;
    }
    size_t il = strlen(index_path), pcap = il + 4096;
    shards = es_malloc(n_map * sizeof *shards);
    dir = es_malloc(il + 2);
    path = es_malloc(pcap);
    if (!shards || !dir || !path) {
        s = es_errf(err, ES_ERR_NOMEM, "%s: out of memory", index_path);
        goto done;
    }
    json_object_object_foreach(wm, tname, sv) {
        const char *sn = json_object_is_type(sv, json_type_string) ? json_object_get_string(sv)
                                                                    : NULL;
        if (!sn || !plain_file_name(sn, (size_t)json_object_get_string_len(sv))) {
            s = es_errf(err, ES_ERR_FORMAT,
                        "%s: tensor '%.200s': shard '%.200s' is not a file in the index's "
                        "folder (a plain file name is required)",
                        index_path, tname, sn ? sn : json_object_to_json_string(sv));
            goto done;
        }
        shards[n_shards++] = sn;
    }
    qsort(shards, n_shards, sizeof *shards, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < n_shards; i++)
        if (u == 0 || strcmp(shards[u - 1], shards[i]) != 0) shards[u++] = shards[i];
    n_shards = u;
    const char *slash = strrchr(index_path, '/');
    if (slash) {
        size_t dl = (size_t)(slash - index_path);
        memcpy(dir, index_path, dl ? dl : 1); /* "/x.json" -> "/" */
        dir[dl ? dl : 1] = 0;
    } else {
        strcpy(dir, ".");
    }
    size_t before = es_weights_count(w);
    for (size_t i = 0; i < n_shards; i++) {
        if ((s = es_path_join(path, pcap, dir, shards[i], err))) goto done;
        if ((s = read(w, path, err))) {
            es_err_prefix(err, "%s: shard", index_path);
            goto done;
        }
    }
    json_object_object_foreach(wm, tn, sv2) {
        const char *sn = json_object_get_string(sv2);
        const es_tensor_view *t = es_weights_find(w, tn);
        if ((s = es_path_join(path, pcap, dir, sn, err))) goto done;
        if (!t) {
            s = es_errf(err, ES_ERR_FORMAT, "%s: tensor '%.200s' is not in its shard %s",
                        index_path, tn, path);
            goto done;
        }
        if (strcmp(t->file, path) != 0) {
            s = es_errf(err, ES_ERR_FORMAT, "%s: tensor '%.200s' is listed in %s but found in %s",
                        index_path, tn, path, t->file);
            goto done;
        }
    }
    size_t extra = es_weights_count(w) - before - n_map;
    if (extra)
        es_log(ES_LOG_WARN, "%s: %zu tensors in the shards are not listed in weight_map",
               index_path, extra);
done:
    es_free(path);
    es_free(dir);
    es_free(shards);
    json_object_put(root);
    return s;
}
