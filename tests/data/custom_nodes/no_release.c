/* no_release: a library that lacks one of the six functions (release), which the server refuses. */
#include "custom_node_interface.h"

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
    (void)inputs, (void)inputsCount, (void)outputs, (void)outputsCount, (void)params, (void)paramsCount, (void)state;
    return 1;
}

DLL_PUBLIC int getInputsInfo(struct CustomNodeTensorInfo** info, int* infoCount, const struct CustomNodeParam* params,
                             int paramsCount, void* state) {
    (void)info, (void)infoCount, (void)params, (void)paramsCount, (void)state;
    return 1;
}

DLL_PUBLIC int getOutputsInfo(struct CustomNodeTensorInfo** info, int* infoCount, const struct CustomNodeParam* params,
                              int paramsCount, void* state) {
    (void)info, (void)infoCount, (void)params, (void)paramsCount, (void)state;
    return 1;
}
