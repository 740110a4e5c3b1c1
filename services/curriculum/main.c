/* mentis-curriculum: UMCF curricula, topics, transcripts and learner progress */
#include "curriculum.h"

#define D(name) &mentis__v1__curriculum__##name##__descriptor
#define TX      (MENTIS_OP_DB | MENTIS_OP_TENANT)

static const mentis_op_t ops[] = {
    /* Client: the gateway has checked the token and sends the identity headers. */
    {"curricula.list", D(list_curricula_request), D(list_curricula_response), mentis__cur_op_list,
     TX},
    {"curricula.get", D(get_curriculum_request), D(curriculum_detail), mentis__cur_op_get, TX},
    {"curricula.subjects", D(list_subjects_request), D(list_subjects_response),
     mentis__cur_op_subjects, TX},
    {"curricula.topics", D(list_topics_request), D(list_topics_response), mentis__cur_op_topics,
     TX},
    {"curricula.transcript", D(get_transcript_request), D(transcript), mentis__cur_op_transcript,
     TX},
    {"curricula.full", D(get_full_request), D(get_full_response), mentis__cur_op_full, TX},
    {"progress.get", D(get_progress_request), D(progress_response), mentis__cur_op_progress_get,
     TX},
    {"progress.put", D(put_progress_request), D(topic_progress), mentis__cur_op_progress_put, TX},
    /* Admin: the handlers check the role again. */
    {"admin.import", D(import_curriculum_request), D(import_curriculum_response),
     mentis__cur_op_import, TX},
    {"admin.update", D(update_curriculum_request), D(curriculum), mentis__cur_op_update, TX},
    {"admin.delete", D(delete_curriculum_request), D(delete_curriculum_response),
     mentis__cur_op_delete, TX},
};

static const mentis_service_def_t service = {
    .name = "curriculum",
    .description = "UMCF curricula, topics, transcripts and learner progress",
    .ops = ops,
    .nops = sizeof ops / sizeof ops[0],
    .default_admin_port = 9103,
    .schema = "curriculum",
};

int main(int argc, char **argv)
{
    return mentis_service_main(&service, argc, argv);
}
