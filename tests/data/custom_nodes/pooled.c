/*
 * pooled: y = x * 2 (FP32, any 1-D, at most 64 values), its output buffers taken from a pool of
 * "pool_size" (a parameter, default 2) buffers that initialize preallocates in the node's state,
 * the pattern OVMS documents for avoiding allocations per request. release(ptr, state) puts a pool
 * buffer back into that state's pool, so a node keeps working only if the server releases every
 * output with the state of the node that produced it. execute returns 3 when the pool is empty.
 *
 * Test control (extra export): wrong_state_releases() counts releases of a pool buffer that came
 * with another state than the one owning it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define NODE_OWN_RELEASE
#include "node_alloc.h"

#define MAX_VALUES 64
#define MAX_POOL 16
#define MAGIC 0x706f6f6cu

struct pool {
    unsigned magic;
    pthread_mutex_t lock;
    int size, free_count;
    float* free_list[MAX_POOL];
    float buffers[MAX_POOL][MAX_VALUES];
};

static atomic_int wrong_state;
static const uint64_t ANY_1D[1] = {0};

DLL_PUBLIC int wrong_state_releases(void) { return atomic_load(&wrong_state); }

DLL_PUBLIC int initialize(void** state, const struct CustomNodeParam* params, int paramsCount) {
    const char* size = node_param(params, paramsCount, "pool_size");
    struct pool* p = (struct pool*)calloc(1, sizeof(struct pool));
    if (!p) {
        return 1;
    }
    p->magic = MAGIC;
    p->size = size ? atoi(size) : 2;
    if (p->size < 1 || p->size > MAX_POOL) {
        free(p);
        return 2;
    }
    pthread_mutex_init(&p->lock, NULL);
    for (int i = 0; i < p->size; i++) {
        p->free_list[p->free_count++] = p->buffers[i];
    }
    *state = p;
    return 0;
}

DLL_PUBLIC int deinitialize(void* state) {
    struct pool* p = (struct pool*)state;
    pthread_mutex_destroy(&p->lock);
    free(p);
    return 0;
}

static int owns(const struct pool* p, const void* ptr) {
    const char* start = (const char*)p->buffers;
    return (const char*)ptr >= start && (const char*)ptr < start + sizeof(p->buffers);
}

static float* take(struct pool* p) {
    pthread_mutex_lock(&p->lock);
    float* buffer = p->free_count > 0 ? p->free_list[--p->free_count] : NULL;
    pthread_mutex_unlock(&p->lock);
    return buffer;
}

/* Pool buffers go back to the state's pool; everything else was allocated with node_alloc. */
DLL_PUBLIC int release(void* ptr, void* state) {
    struct pool* p = (struct pool*)state;
    if (!p || p->magic != MAGIC || !owns(p, ptr)) {
        if (p && p->magic == MAGIC) {
            free(ptr);
            atomic_fetch_sub(&node_outstanding, 1);
            return 0;
        }
        atomic_fetch_add(&wrong_state, 1); /* released with no state or a foreign one */
        return 1;
    }
    pthread_mutex_lock(&p->lock);
    p->free_list[p->free_count++] = (float*)ptr;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

DLL_PUBLIC int execute(const struct CustomNodeTensor* inputs, int inputsCount, struct CustomNodeTensor** outputs,
                       int* outputsCount, const struct CustomNodeParam* params, int paramsCount, void* state) {
    (void)params, (void)paramsCount;
    if (inputsCount != 1 || inputs[0].precision != FP32 || inputs[0].dimsCount != 1 ||
        inputs[0].dims[0] > MAX_VALUES) {
        return 1;
    }
    float* data = take((struct pool*)state);
    if (!data) {
        return 3;
    }
    struct CustomNodeTensor* out = (struct CustomNodeTensor*)node_alloc(sizeof(struct CustomNodeTensor));
    uint64_t* dims = (uint64_t*)node_alloc(sizeof(uint64_t));
    if (!out || !dims) {
        return 2;
    }
    const float* x = (const float*)inputs[0].data;
    for (uint64_t i = 0; i < inputs[0].dims[0]; i++) {
        data[i] = x[i] * 2;
    }
    dims[0] = inputs[0].dims[0];
    out->name = "y";
    out->data = (uint8_t*)data;
    out->dataBytes = inputs[0].dataBytes;
    out->dims = dims;
    out->dimsCount = 1;
    out->precision = FP32;
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
