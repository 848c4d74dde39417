/*
 * The C interface of a pipeline custom node, as ovserve loads it.
 *
 * This is the interface OpenVINO Model Server (OVMS) documents for its DAG custom nodes
 * (docs/custom_node_development.md): the same symbol names, structure layouts and precision
 * values, so a library built for OVMS loads in ovserve unchanged, and a library built against
 * this header loads in OVMS. Written for ovserve from that documentation.
 *
 * A library exports six functions; each returns 0 on success and anything else on failure.
 *
 *   initialize      once per pipeline node that uses the library, with that node's parameters;
 *                   may set *state to anything the node's later calls need (or leave it NULL).
 *   deinitialize    once, when the node is retired, with that state.
 *   execute         once per run of the node; may be called from several threads at once with
 *                   the same state. Inputs are read-only and live for the call only. The library
 *                   allocates the outputs array and, for each output, its data and dims; the server
 *                   hands every one of those pointers back through release (data, dims, then the
 *                   array) once it has read them. On a non-zero return the server releases nothing:
 *                   the library frees what it allocated.
 *   getInputsInfo   the node's inputs and outputs (name, dims, precision), for validation and
 *   getOutputsInfo  metadata; a dimension of 0 is dynamic. The server releases every info's dims,
 *                   then the info array. Names are not released (use static or state-owned strings).
 *   release         frees one pointer the library handed out.
 *
 * Parameters are the node's "params" from config.json as key/value strings (NULL when a node has
 * none); their order is unspecified.
 *
 * Build:  cc -shared -fPIC -O2 -I<this directory> my_node.c -o libmy_node.so
 * (`python -c "import ovserve.pipelines.custom_node as c; print(c.include_dir())"` prints it).
 */
#ifndef OVSERVE_CUSTOM_NODE_INTERFACE_H
#define OVSERVE_CUSTOM_NODE_INTERFACE_H

#include <stdint.h>

#if defined(_WIN32)
#define DLL_PUBLIC __declspec(dllexport)
#else
#define DLL_PUBLIC __attribute__((visibility("default")))
#endif

/* Element types; the values are part of the interface. */
typedef enum {
    UNSPECIFIED = 0,
    FP32 = 1,
    FP16 = 2,
    U8 = 3,
    I8 = 4,
    I16 = 5,
    U16 = 6,
    I32 = 7,
    FP64 = 8,
    I64 = 9
} CustomNodeTensorPrecision;

/* A tensor: dense, row-major, dataBytes == product(dims) * element size. */
struct CustomNodeTensor {
    const char* name;
    uint8_t* data;
    uint64_t dataBytes;
    uint64_t* dims;
    uint64_t dimsCount;
    CustomNodeTensorPrecision precision;
};

/* A tensor's description; a dimension of 0 is dynamic. */
struct CustomNodeTensorInfo {
    const char* name;
    uint64_t* dims;
    uint64_t dimsCount;
    CustomNodeTensorPrecision precision;
};

/* One node parameter from config.json. */
struct CustomNodeParam {
    const char* key;
    const char* value;
};

#ifdef __cplusplus
extern "C" {
#endif

DLL_PUBLIC int initialize(void** state, const struct CustomNodeParam* params, int paramsCount);
DLL_PUBLIC int deinitialize(void* state);
DLL_PUBLIC int execute(const struct CustomNodeTensor* inputs, int inputsCount, struct CustomNodeTensor** outputs,
                       int* outputsCount, const struct CustomNodeParam* params, int paramsCount, void* state);
DLL_PUBLIC int getInputsInfo(struct CustomNodeTensorInfo** info, int* infoCount, const struct CustomNodeParam* params,
                             int paramsCount, void* state);
DLL_PUBLIC int getOutputsInfo(struct CustomNodeTensorInfo** info, int* infoCount, const struct CustomNodeParam* params,
                              int paramsCount, void* state);
DLL_PUBLIC int release(void* ptr, void* state);

#ifdef __cplusplus
}
#endif

#endif /* OVSERVE_CUSTOM_NODE_INTERFACE_H */
