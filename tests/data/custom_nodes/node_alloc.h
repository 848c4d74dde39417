/*
 * Allocation bookkeeping shared by the test nodes: every buffer a node hands to the server comes
 * from node_alloc, and the server gives it back through release. outstanding_allocations() (an
 * extra export, not part of the interface) lets a test check that nothing was left unreleased.
 */
#ifndef OVSERVE_TEST_NODE_ALLOC_H
#define OVSERVE_TEST_NODE_ALLOC_H

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "custom_node_interface.h"

static atomic_long node_outstanding;

static inline void* node_alloc(size_t bytes) {
    void* ptr = malloc(bytes ? bytes : 1); /* never NULL for an empty tensor */
    if (ptr) {
        atomic_fetch_add(&node_outstanding, 1);
    }
    return ptr;
}

DLL_PUBLIC long outstanding_allocations(void) { return atomic_load(&node_outstanding); }

#ifndef NODE_OWN_RELEASE /* a node with buffers of its own defines release itself */
DLL_PUBLIC int release(void* ptr, void* state) {
    (void)state;
    free(ptr);
    atomic_fetch_sub(&node_outstanding, 1);
    return 0;
}
#endif

/* The value of parameter `key`, or NULL. */
static inline const char* node_param(const struct CustomNodeParam* params, int count, const char* key) {
    for (int i = 0; i < count; i++) {
        if (strcmp(params[i].key, key) == 0) {
            return params[i].value;
        }
    }
    return NULL;
}

/* One info entry with `count` dims copied from `dims`. */
static inline int node_info(struct CustomNodeTensorInfo* info, const char* name, const uint64_t* dims, uint64_t count,
                     CustomNodeTensorPrecision precision) {
    info->name = name;
    info->dimsCount = count;
    info->precision = precision;
    info->dims = (uint64_t*)node_alloc(count * sizeof(uint64_t));
    if (!info->dims) {
        return 1;
    }
    memcpy(info->dims, dims, count * sizeof(uint64_t));
    return 0;
}

/* Fill one output tensor: allocates its dims (copied) and `bytes` of data; 0 on success. */
static inline int node_output(struct CustomNodeTensor* out, const char* name, const uint64_t* dims, uint64_t count,
                       uint64_t bytes, CustomNodeTensorPrecision precision) {
    out->name = name;
    out->precision = precision;
    out->dimsCount = count;
    out->dataBytes = bytes;
    out->dims = (uint64_t*)node_alloc(count * sizeof(uint64_t));
    out->data = (uint8_t*)node_alloc(bytes);
    if (!out->dims || !out->data) {
        return 1;
    }
    memcpy(out->dims, dims, count * sizeof(uint64_t));
    return 0;
}

#endif
