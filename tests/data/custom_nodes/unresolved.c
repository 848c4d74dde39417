/*
 * unresolved: y = x (FP32, any 1-D) from a library that also exports a function calling a symbol
 * nothing defines. OVMS opens libraries with lazy binding, so such a library loads and works as
 * long as that function is never called; ovserve must open it the same way.
 */
#include "node_alloc.h"

extern int ovserve_test_symbol_defined_nowhere(void);

static const uint64_t ANY_1D[1] = {0};

DLL_PUBLIC int never_called(void) { return ovserve_test_symbol_defined_nowhere(); }

DLL_PUBLIC int initialize(void** state, const struct CustomNodeParam* params, int paramsCount) {
    (void)state, (void)params, (void)paramsCount;
    return 0;
}

DLL_PUBLIC int deinitialize(void* state) {
    (void)state;
    return 0;
}

DLL_PUBLIC int execute(const struct CustomNodeTensor* inputs, int inputsCount, struct CustomNodeTensor** outputs,
                       int* outputsCount, const struct CustomNodeParam* params, int paramsCount, void* state) {
    (void)params, (void)paramsCount, (void)state;
    if (inputsCount != 1 || inputs[0].dimsCount != 1) {
        return 1;
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
