/*
 * Query results onto protobuf messages, by name: a column fills the field of the same name
 * (alias it in the SQL: "item_id AS id"), so reading a row needs no code per field.
 * Columns that name no field, and NULLs, are skipped: the field keeps its default.
 *
 * By the field's type:
 *   string                      the text, copied into the pool
 *   integers, float, double     the number (PostgreSQL's text form)
 *   bool                        't' is true
 *   enum                        the value whose name ends in "_<text>", any case
 *                               ("archived" → STATUS_ARCHIVED); another text is an error
 *   repeated string             the strings of a JSON array (to_json(text[]), jsonb
 *                               text); any other JSON gives none
 *   mentis.v1.JsonValue         the JSON text as it is
 *   mentis.v1.Timestamp         milliseconds since the epoch, as an integer
 * A column naming a field of another type is an error (MENTIS_ERR_INTERNAL): the query
 * and the message disagree, which is the code's mistake.
 */
#ifndef MENTIS_ROWS_H
#define MENTIS_ROWS_H

#include <libpq-fe.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "mentis/pool.h"
#include "mentis/status.h"

/* Fills msg (initialised, its memory in pool) from row `row` of res. */
mentis_status_t mentis_row_read(mentis_pool_t *pool, const PGresult *res, int row,
                                ProtobufCMessage *msg);

/*
 * Every row of res as a new message of desc, in order: *out an array of *n of them in the
 * pool (never NULL on success, also for no rows).
 */
mentis_status_t mentis_rows_read(mentis_pool_t *pool, const PGresult *res,
                                 const ProtobufCMessageDescriptor *desc, void ***out, size_t *n);

#endif
