/* mentis-kb: question packs, questions, domains, search, import and export */
#include "kb.h"

static mentis_status_t start(mentis_service_t *svc)
{
    return mentis__kb_seed(svc);
}

#define D(name) &mentis__v1__kb__##name##__descriptor
#define OP(op, req, resp, fn)                                                                      \
    {                                                                                              \
        op, D(req), D(resp), fn, MENTIS_OP_DB | MENTIS_OP_TENANT                                   \
    }
/* Reads whose statements need no shared snapshot (one statement, or rows read back by id
 * after a check or a ranking): each statement runs on its own (MENTIS_OP_READ). An export
 * reads its pack, questions and domains in one transaction, so that they agree. */
#define READ(op, req, resp, fn)                                                                    \
    {                                                                                              \
        op, D(req), D(resp), fn, MENTIS_OP_DB | MENTIS_OP_TENANT | MENTIS_OP_READ                  \
    }
static const mentis_op_t ops[] = {
    READ("packs.list", list_packs_request, list_packs_response, mentis__kb_op_packs_list),
    OP("packs.create", create_pack_request, pack, mentis__kb_op_packs_create),
    READ("packs.get", pack_ref, pack, mentis__kb_op_packs_get),
    OP("packs.update", update_pack_request, pack, mentis__kb_op_packs_update),
    OP("packs.delete", pack_ref, empty, mentis__kb_op_packs_delete),
    READ("packs.questions.list", list_pack_questions_request, list_questions_response,
         mentis__kb_op_pack_questions_list),
    OP("packs.questions.add", add_pack_questions_request, pack, mentis__kb_op_pack_questions_add),
    OP("packs.questions.remove", remove_pack_question_request, empty,
       mentis__kb_op_pack_questions_remove),
    OP("packs.bundle", create_bundle_request, pack, mentis__kb_op_packs_bundle),
    OP("packs.export", pack_ref, export_pack_response, mentis__kb_op_packs_export),
    OP("import", import_request, pack, mentis__kb_op_import),
    READ("questions.list", list_questions_request, list_questions_response,
         mentis__kb_op_questions_list),
    OP("questions.create", create_question_request, question, mentis__kb_op_questions_create),
    READ("questions.get", question_ref, question, mentis__kb_op_questions_get),
    OP("questions.update", update_question_request, question, mentis__kb_op_questions_update),
    OP("questions.delete", question_ref, empty, mentis__kb_op_questions_delete),
    OP("questions.bulk_update", bulk_update_questions_request, bulk_update_questions_response,
       mentis__kb_op_questions_bulk_update),
    READ("domains.list", list_domains_request, list_domains_response, mentis__kb_op_domains_list),
    OP("domains.create", create_domain_request, domain, mentis__kb_op_domains_create),
    READ("domains.get", domain_ref, domain, mentis__kb_op_domains_get),
    OP("domains.update", update_domain_request, domain, mentis__kb_op_domains_update),
    OP("domains.delete", domain_ref, empty, mentis__kb_op_domains_delete),
    READ("categories.list", list_categories_request, list_categories_response,
         mentis__kb_op_categories_list),
    READ("search", search_request, search_response, mentis__kb_op_search),
};

static const mentis_service_def_t service = {
    .name = "kb",
    .description = "question packs, questions, domains, search, import and export",
    .ops = ops,
    .nops = sizeof ops / sizeof ops[0],
    .default_admin_port = 9102,
    .schema = "kb",
    .start = start,
};

int main(int argc, char **argv)
{
    return mentis_service_main(&service, argc, argv);
}
