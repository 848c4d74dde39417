/*
 * faulty: a node that breaks the interface in the way its "mode" parameter names, for the tests of
 * the server's checks. Input x (FP32, any 1-D); declared output y (FP32 [1,4]).
 *
 * initialize fails with mode "fail_initialize", getInputsInfo with "fail_metadata", and gives no
 * entries with "no_info". execute, by mode:
 *   ok               y = [1,2,3,4]
 *   fail             returns 7 (having allocated nothing)
 *   null_outputs     returns 0 with no outputs array
 *   zero_outputs     returns an outputs array and a count of 0
 *   bad_bytes        y with 12 data bytes for [1,4] FP32
 *   bad_dims_count   y shaped [1,4,1]
 *   bad_dims         y shaped [1,5]
 *   bad_precision    y as I32
 *   unspecified      y with precision UNSPECIFIED
 *   no_name          one output without a name
 *   missing_output   z instead of y
 *   extra_output     y and an undeclared extra
 *   null_data        y whose data pointer is NULL
 *   spec             y as x describes it: x = [dimsCount, precision, dataBytes, dims...] (data zeroed)
 */
#include <stdlib.h>

#include "node_alloc.h"

static const uint64_t ANY_1D[1] = {0}, Y_DIMS[2] = {1, 4};

static const char* mode_of(const struct CustomNodeParam* params, int count) {
    const char* mode = node_param(params, count, "mode");
    return mode ? mode : "ok";
}

static int is(const char* mode, const char* name) { return strcmp(mode, name) == 0; }

DLL_PUBLIC int initialize(void** state, const struct CustomNodeParam* params, int paramsCount) {
    (void)state;
    return is(mode_of(params, paramsCount), "fail_initialize") ? 5 : 0;
}

DLL_PUBLIC int deinitialize(void* state) {
    (void)state;
    return 0;
}

/* y = [1,2,3,4] as `name`, shaped `dims`, with `bytes` of data and `precision`. */
static int fill_y(struct CustomNodeTensor* out, const char* name, const uint64_t* dims, uint64_t count,
                  uint64_t bytes, CustomNodeTensorPrecision precision) {
    if (node_output(out, name, dims, count, bytes > 16 ? bytes : 16, precision)) {
        return 1;
    }
    out->dataBytes = bytes;
    float* y = (float*)out->data;
    for (int i = 0; i < 4; i++) {
        y[i] = (float)(i + 1);
    }
    return 0;
}

static int fill(const char* mode, struct CustomNodeTensor* out) {
    static const uint64_t dims_count[3] = {1, 4, 1}, dims[2] = {1, 5};
    if (is(mode, "bad_bytes")) return fill_y(out, "y", Y_DIMS, 2, 12, FP32);
    if (is(mode, "bad_dims_count")) return fill_y(out, "y", dims_count, 3, 16, FP32);
    if (is(mode, "bad_dims")) return fill_y(out, "y", dims, 2, 20, FP32);
    if (is(mode, "bad_precision")) return fill_y(out, "y", Y_DIMS, 2, 16, I32);
    if (is(mode, "unspecified")) return fill_y(out, "y", Y_DIMS, 2, 16, UNSPECIFIED);
    if (is(mode, "no_name")) return fill_y(out, NULL, Y_DIMS, 2, 16, FP32);
    if (is(mode, "missing_output")) return fill_y(out, "z", Y_DIMS, 2, 16, FP32);
    if (is(mode, "extra_output")) return fill_y(out, "y", Y_DIMS, 2, 16, FP32) || fill_y(out + 1, "w", Y_DIMS, 2, 16, FP32);
    if (is(mode, "null_data")) {
        int failed = fill_y(out, "y", Y_DIMS, 2, 16, FP32);
        release(out->data, NULL);
        out->data = NULL;
        return failed;
    }
    return fill_y(out, "y", Y_DIMS, 2, 16, FP32);
}

/* y exactly as the input describes it (mode "spec"), however wrong; 0 on success. */
static int fill_spec(const struct CustomNodeTensor* input, struct CustomNodeTensor* out) {
    const float* spec = (const float*)input->data;
    uint64_t n = input->dimsCount == 1 ? input->dims[0] : 0;
    if (n < 3 || spec[0] < 0 || spec[2] < 0 || n < 3 + (uint64_t)spec[0]) {
        return 4;
    }
    uint64_t count = (uint64_t)spec[0], bytes = (uint64_t)spec[2];
    uint64_t dims[64];
    if (count > 64) {
        return 4;
    }
    for (uint64_t i = 0; i < count; i++) {
        dims[i] = (uint64_t)spec[3 + i];
    }
    if (node_output(out, "y", dims, count, bytes, (CustomNodeTensorPrecision)(int)spec[1])) {
        return 1;
    }
    memset(out->data, 0, bytes);
    return 0;
}

DLL_PUBLIC int execute(const struct CustomNodeTensor* inputs, int inputsCount, struct CustomNodeTensor** outputs,
                       int* outputsCount, const struct CustomNodeParam* params, int paramsCount, void* state) {
    (void)state;
    const char* mode = mode_of(params, paramsCount);
    if (is(mode, "fail")) {
        return 7;
    }
    if (is(mode, "null_outputs")) {
        *outputs = NULL;
        *outputsCount = 1;
        return 0;
    }
    int count = is(mode, "extra_output") ? 2 : 1;
    struct CustomNodeTensor* out = (struct CustomNodeTensor*)node_alloc(count * sizeof(struct CustomNodeTensor));
    if (!out) {
        return 2;
    }
    if (is(mode, "spec")) {
        int failed = inputsCount == 1 ? fill_spec(&inputs[0], out) : 4;
        if (failed) {
            release(out, NULL);
            return failed;
        }
    } else if (fill(mode, out)) {
        return 2;
    }
    *outputs = out;
    *outputsCount = is(mode, "zero_outputs") ? 0 : count;
    if (is(mode, "zero_outputs")) { /* what was filled in is the node's to free: nobody else sees it */
        release(out->data, NULL);
        release(out->dims, NULL);
    }
    return 0;
}

DLL_PUBLIC int getInputsInfo(struct CustomNodeTensorInfo** info, int* infoCount, const struct CustomNodeParam* params,
                             int paramsCount, void* state) {
    (void)state;
    const char* mode = mode_of(params, paramsCount);
    if (is(mode, "fail_metadata")) {
        return 3;
    }
    *info = (struct CustomNodeTensorInfo*)node_alloc(sizeof(struct CustomNodeTensorInfo));
    if (is(mode, "no_info")) {
        *infoCount = 0;
        return 0;
    }
    *infoCount = 1;
    return *info ? node_info(*info, "x", ANY_1D, 1, FP32) : 1;
}

DLL_PUBLIC int getOutputsInfo(struct CustomNodeTensorInfo** info, int* infoCount, const struct CustomNodeParam* params,
                              int paramsCount, void* state) {
    (void)params, (void)paramsCount, (void)state;
    *info = (struct CustomNodeTensorInfo*)node_alloc(sizeof(struct CustomNodeTensorInfo));
    *infoCount = 1;
    return *info ? node_info(*info, "y", Y_DIMS, 2, FP32) : 1;
}
