/*
 * rendezvous: y = x (FP32, any 1-D), but each execute waits until "expected" (a parameter, default
 * 2) calls have entered it on the node's state, or until the test opens the gate, so a test can
 * see calls running at the same time and hold one inside the library. Waits give up after 60 s
 * (execute then returns 9: a test fails, nothing hangs).
 *
 * Test controls (extra exports): open_gate / reset_gate; wait_inside(n) and wait_deinitialized(n)
 * block until n calls are inside execute / n states were deinitialized (1), or 60 s pass (0).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "node_alloc.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int gate_open, inside, deinitialized;

struct meeting {
    int count, expected;
};

static const uint64_t ANY_1D[1] = {0};

static struct timespec deadline(void) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    return until;
}

/* Wait (holding lock) until *value >= n; 1 if it got there. */
static int wait_for(const int* value, int n) {
    struct timespec until = deadline();
    int status = 0;
    while (*value < n && !gate_open && status != ETIMEDOUT) {
        status = pthread_cond_timedwait(&changed, &lock, &until);
    }
    return *value >= n || gate_open;
}

static int wait_locked(const int* value, int n) {
    pthread_mutex_lock(&lock);
    int reached = wait_for(value, n);
    pthread_mutex_unlock(&lock);
    return reached;
}

DLL_PUBLIC void open_gate(void) {
    pthread_mutex_lock(&lock);
    gate_open = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
}

DLL_PUBLIC void reset_gate(void) {
    pthread_mutex_lock(&lock);
    gate_open = 0;
    deinitialized = 0;
    pthread_mutex_unlock(&lock);
}

DLL_PUBLIC int wait_inside(int n) { return wait_locked(&inside, n); }

DLL_PUBLIC int wait_deinitialized(int n) { return wait_locked(&deinitialized, n); }

DLL_PUBLIC int initialize(void** state, const struct CustomNodeParam* params, int paramsCount) {
    const char* expected = node_param(params, paramsCount, "expected");
    struct meeting* m = (struct meeting*)calloc(1, sizeof(struct meeting));
    if (!m) {
        return 1;
    }
    m->expected = expected ? atoi(expected) : 2;
    *state = m;
    return 0;
}

DLL_PUBLIC int deinitialize(void* state) {
    free(state);
    pthread_mutex_lock(&lock);
    deinitialized++;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    return 0;
}

static int meet(struct meeting* m) {
    pthread_mutex_lock(&lock);
    m->count++;
    inside++;
    pthread_cond_broadcast(&changed);
    int met = wait_for(&m->count, m->expected);
    inside--;
    pthread_mutex_unlock(&lock);
    return met;
}

DLL_PUBLIC int execute(const struct CustomNodeTensor* inputs, int inputsCount, struct CustomNodeTensor** outputs,
                       int* outputsCount, const struct CustomNodeParam* params, int paramsCount, void* state) {
    (void)params, (void)paramsCount;
    if (inputsCount != 1 || inputs[0].precision != FP32 || inputs[0].dimsCount != 1) {
        return 1;
    }
    if (!meet((struct meeting*)state)) {
        return 9;
    }
    struct CustomNodeTensor* out = (struct CustomNodeTensor*)node_alloc(sizeof(struct CustomNodeTensor));
    if (!out || node_output(out, "y", inputs[0].dims, 1, inputs[0].dataBytes, FP32)) {
        return 2;
    }
    memcpy(out->data, inputs[0].data, inputs[0].dataBytes);
    *outputs = out;
    *outputsCount = 1;
    return 0;
}

DLL_PUBLIC int getInputsInfo(struct CustomNodeTensorInfo** info, int* infoCount, const struct CustomNodeParam* params,
                             int paramsCount, void* state) {
    (void)params, (void)paramsCount, (void)state;
    *info = (struct CustomNodeTensorInfo*)node_alloc(sizeof(struct CustomNodeTensorInfo));
    *infoCount = 1;
    return *info ? node_info(*info, "x", ANY_1D, 1, FP32) : 1;
}

DLL_PUBLIC int getOutputsInfo(struct CustomNodeTensorInfo** info, int* infoCount, const struct CustomNodeParam* params,
                              int paramsCount, void* state) {
    (void)params, (void)paramsCount, (void)state;
    *info = (struct CustomNodeTensorInfo*)node_alloc(sizeof(struct CustomNodeTensorInfo));
    *infoCount = 1;
    return *info ? node_info(*info, "y", ANY_1D, 1, FP32) : 1;
}
