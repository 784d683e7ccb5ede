/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Private to model/: the lifetime of engine.h's state (ck->eng). */
#ifndef CKFS_MODEL_ENGINE_I_H
#define CKFS_MODEL_ENGINE_I_H

#include <pthread.h>

#include "model/engine.h"
#include "model/model_i.h"

struct ckfs_eng {
	pthread_mutex_t lock;	   /* guards facts and rdiff while made */
	bool facts_made;
	struct json_object *facts; /* engine.c, made on first use */
	int rdiff_state;	   /* 0 not yet, 1 made, < 0 -errno */
	struct ckfs_rdiff rdiff;
};

/*
 * ckfs_engine_load() - make ck->eng (engine.c), after ckfs_container_load().
 * The facts themselves are read on first use: probing members such as
 * status.dump at open would make a compressed archive wait for its whole
 * decode.  Never fails the open: on ENOMEM ck->eng stays NULL.
 */
void ckfs_engine_load(struct ckfs_ckpt *ck);
/* ckfs_engine_free() - free ck->eng; before the archive is freed. */
void ckfs_engine_free(struct ckfs_ckpt *ck);

/* rdiff.c */
int ckfs_rdiff_load(struct ckfs_ckpt *ck, struct ckfs_rdiff *rd);
void ckfs_rdiff_fini(struct ckfs_rdiff *rd);

#endif /* CKFS_MODEL_ENGINE_I_H */
