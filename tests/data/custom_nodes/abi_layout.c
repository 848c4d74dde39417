/* abi_layout: prints, as JSON, the sizes and field offsets of the interface's structures and the
 * precision values as a C compiler lays them out from custom_node_interface.h (a test compares
 * them with ovserve's ctypes declarations). A program, not a node. */
#include <stddef.h>
#include <stdio.h>

#include "custom_node_interface.h"

#define FIELD(type, field) printf("\"%s.%s\": %zu, ", #type, #field, offsetof(struct type, field))

int main(void) {
    printf("{");
    FIELD(CustomNodeTensor, name);
    FIELD(CustomNodeTensor, data);
    FIELD(CustomNodeTensor, dataBytes);
    FIELD(CustomNodeTensor, dims);
    FIELD(CustomNodeTensor, dimsCount);
    FIELD(CustomNodeTensor, precision);
    FIELD(CustomNodeTensorInfo, name);
    FIELD(CustomNodeTensorInfo, dims);
    FIELD(CustomNodeTensorInfo, dimsCount);
    FIELD(CustomNodeTensorInfo, precision);
    FIELD(CustomNodeParam, key);
    FIELD(CustomNodeParam, value);
    printf("\"sizeof CustomNodeTensor\": %zu, ", sizeof(struct CustomNodeTensor));
    printf("\"sizeof CustomNodeTensorInfo\": %zu, ", sizeof(struct CustomNodeTensorInfo));
    printf("\"sizeof CustomNodeParam\": %zu, ", sizeof(struct CustomNodeParam));
    printf("\"sizeof precision\": %zu, ", sizeof(CustomNodeTensorPrecision));
    printf("\"precisions\": [%d, %d, %d, %d, %d, %d, %d, %d, %d, %d]}\n", UNSPECIFIED, FP32, FP16, U8, I8, I16, U16,
           I32, FP64, I64);
    return 0;
}
