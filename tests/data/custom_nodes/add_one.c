/*
 * add_one: output_numbers = input_numbers + add_number (a float parameter, default 1), FP32, any
 * 2-D shape. The smallest useful custom node, in the style of OVMS's add_one example.
 */
#include <stdlib.h>

#include "node_alloc.h"

static const uint64_t ANY_2D[2] = {0, 0};

DLL_PUBLIC int initialize(void** state, const struct CustomNodeParam* params, int paramsCount) {
    const char* value = node_param(params, paramsCount, "add_number");
    float* add = (float*)malloc(sizeof(float));
    if (!add) {
        return 1;
    }
    *add = value ? strtof(value, NULL) : 1.0f;
    *state = add;
    return 0;
}

DLL_PUBLIC int deinitialize(void* state) {
    free(state);
    return 0;
}

DLL_PUBLIC int execute(const struct CustomNodeTensor* inputs, int inputsCount, struct CustomNodeTensor** outputs,
                       int* outputsCount, const struct CustomNodeParam* params, int paramsCount, void* state) {
    (void)params;
    (void)paramsCount;
    const struct CustomNodeTensor* input = NULL;
    for (int i = 0; i < inputsCount; i++) {
        if (strcmp(inputs[i].name, "input_numbers") == 0) {
            input = &inputs[i];
        }
    }
    if (!input || input->precision != FP32 || input->dimsCount != 2) {
        return 1;
    }
    struct CustomNodeTensor* out = (struct CustomNodeTensor*)node_alloc(sizeof(struct CustomNodeTensor));
    if (!out || node_output(out, "output_numbers", input->dims, 2, input->dataBytes, FP32) != 0) {
        return 2; /* a real node would free what it got here */
    }
    const float* src = (const float*)input->data;
    float* dst = (float*)out->data;
    float add = *(float*)state;
    for (uint64_t i = 0; i < input->dataBytes / sizeof(float); i++) {
        dst[i] = src[i] + add;
    }
    *outputs = out;
    *outputsCount = 1;
    return 0;
}

DLL_PUBLIC int getInputsInfo(struct CustomNodeTensorInfo** info, int* infoCount, const struct CustomNodeParam* params,
                             int paramsCount, void* state) {
    (void)params, (void)paramsCount, (void)state;
    *info = (struct CustomNodeTensorInfo*)node_alloc(sizeof(struct CustomNodeTensorInfo));
    *infoCount = 1;
    return *info ? node_info(*info, "input_numbers", ANY_2D, 2, FP32) : 1;
}

DLL_PUBLIC int getOutputsInfo(struct CustomNodeTensorInfo** info, int* infoCount, const struct CustomNodeParam* params,
                              int paramsCount, void* state) {
    (void)params, (void)paramsCount, (void)state;
    *info = (struct CustomNodeTensorInfo*)node_alloc(sizeof(struct CustomNodeTensorInfo));
    *infoCount = 1;
    return *info ? node_info(*info, "output_numbers", ANY_2D, 2, FP32) : 1;
}
