/*
 * crop: cuts the detected boxes out of an image, for a pipeline that classifies each detection
 * (the shape of OVMS's model_zoo_intel_object_detection node, with nearest-neighbour resizing).
 *
 * inputs   image       FP32 [1,C,H,W]
 *          detection   FP32 [1,1,D,7]: per box image_id, label, confidence, x_min, y_min, x_max, y_max
 *                      (coordinates normalized to 0..1)
 * outputs  images      FP32 [N,1,C,target_image_height,target_image_width]: the boxes whose
 *                      confidence >= confidence_threshold (at most max_output_batch), in order
 *          coordinates FP32 [N,1,4]: x_min, y_min, x_max, y_max of each
 *          confidences FP32 [N,1,1]
 * params   target_image_width, target_image_height (required), confidence_threshold (0.5),
 *          max_output_batch (100)
 *
 * N varies with the image: the node is meant for "demultiply_count": -1 (N = 0 answers "no content").
 * A box covers pixels [floor(x_min*W), ceil(x_max*W)) clamped to the image and at least one pixel
 * wide (the same for y); output pixel (i, j) takes the box's pixel (i*h/th, j*w/tw).
 */
#include <math.h>
#include <stdlib.h>

#include "node_alloc.h"

struct crop_params {
    uint64_t width, height, max_boxes;
    float threshold;
};

DLL_PUBLIC int initialize(void** state, const struct CustomNodeParam* params, int paramsCount) {
    const char* width = node_param(params, paramsCount, "target_image_width");
    const char* height = node_param(params, paramsCount, "target_image_height");
    const char* threshold = node_param(params, paramsCount, "confidence_threshold");
    const char* max_boxes = node_param(params, paramsCount, "max_output_batch");
    if (!width || !height || atoi(width) <= 0 || atoi(height) <= 0) {
        return 1;
    }
    struct crop_params* p = (struct crop_params*)malloc(sizeof(struct crop_params));
    if (!p) {
        return 2;
    }
    p->width = (uint64_t)atoi(width);
    p->height = (uint64_t)atoi(height);
    p->threshold = threshold ? strtof(threshold, NULL) : 0.5f;
    p->max_boxes = max_boxes ? (uint64_t)atoi(max_boxes) : 100;
    *state = p;
    return 0;
}

DLL_PUBLIC int deinitialize(void* state) {
    free(state);
    return 0;
}

static const struct CustomNodeTensor* find(const struct CustomNodeTensor* inputs, int count, const char* name) {
    for (int i = 0; i < count; i++) {
        if (strcmp(inputs[i].name, name) == 0) {
            return &inputs[i];
        }
    }
    return NULL;
}

static uint64_t clamp(float value, uint64_t lo, uint64_t hi) {
    if (value < (float)lo) {
        return lo;
    }
    return value > (float)hi ? hi : (uint64_t)value;
}

/* Nearest-neighbour crop of box (x_min, y_min, x_max, y_max) into dst [C, th, tw]. */
static void crop_box(const float* image, uint64_t c, uint64_t h, uint64_t w, const float* box,
                     const struct crop_params* p, float* dst) {
    uint64_t x0 = clamp(floorf(box[0] * (float)w), 0, w - 1);
    uint64_t y0 = clamp(floorf(box[1] * (float)h), 0, h - 1);
    uint64_t x1 = clamp(ceilf(box[2] * (float)w), x0 + 1, w);
    uint64_t y1 = clamp(ceilf(box[3] * (float)h), y0 + 1, h);
    for (uint64_t k = 0; k < c; k++) {
        for (uint64_t i = 0; i < p->height; i++) {
            uint64_t sy = y0 + i * (y1 - y0) / p->height;
            for (uint64_t j = 0; j < p->width; j++) {
                uint64_t sx = x0 + j * (x1 - x0) / p->width;
                dst[(k * p->height + i) * p->width + j] = image[(k * h + sy) * w + sx];
            }
        }
    }
}

static int bad_inputs(const struct CustomNodeTensor* image, const struct CustomNodeTensor* det) {
    return !image || !det || image->precision != FP32 || det->precision != FP32 || image->dimsCount != 4 ||
           image->dims[0] != 1 || image->dims[2] == 0 || image->dims[3] == 0 || det->dimsCount != 4 ||
           det->dims[3] != 7;
}

DLL_PUBLIC int execute(const struct CustomNodeTensor* inputs, int inputsCount, struct CustomNodeTensor** outputs,
                       int* outputsCount, const struct CustomNodeParam* params, int paramsCount, void* state) {
    (void)params, (void)paramsCount;
    const struct crop_params* p = (const struct crop_params*)state;
    const struct CustomNodeTensor* image = find(inputs, inputsCount, "image");
    const struct CustomNodeTensor* det = find(inputs, inputsCount, "detection");
    if (bad_inputs(image, det)) {
        return 1;
    }
    uint64_t c = image->dims[1], h = image->dims[2], w = image->dims[3];
    uint64_t d = det->dims[0] * det->dims[1] * det->dims[2];
    const float* rows = (const float*)det->data;
    uint64_t n = 0;
    for (uint64_t i = 0; i < d && n < p->max_boxes; i++) {
        n += rows[i * 7 + 2] >= p->threshold;
    }
    struct CustomNodeTensor* out = (struct CustomNodeTensor*)node_alloc(3 * sizeof(struct CustomNodeTensor));
    uint64_t crop = c * p->height * p->width;
    uint64_t images_dims[5] = {n, 1, c, p->height, p->width}, coord_dims[3] = {n, 1, 4}, conf_dims[3] = {n, 1, 1};
    if (!out || node_output(&out[0], "images", images_dims, 5, n * crop * sizeof(float), FP32) ||
        node_output(&out[1], "coordinates", coord_dims, 3, n * 4 * sizeof(float), FP32) ||
        node_output(&out[2], "confidences", conf_dims, 3, n * sizeof(float), FP32)) {
        return 2; /* a real node would free what it got here */
    }
    float* images = (float*)out[0].data;
    float* coords = (float*)out[1].data;
    float* confs = (float*)out[2].data;
    for (uint64_t i = 0, k = 0; i < d && k < n; i++) {
        const float* row = &rows[i * 7];
        if (row[2] < p->threshold) {
            continue;
        }
        crop_box((const float*)image->data, c, h, w, &row[3], p, &images[k * crop]);
        memcpy(&coords[k * 4], &row[3], 4 * sizeof(float));
        confs[k++] = row[2];
    }
    *outputs = out;
    *outputsCount = 3;
    return 0;
}

DLL_PUBLIC int getInputsInfo(struct CustomNodeTensorInfo** info, int* infoCount, const struct CustomNodeParam* params,
                             int paramsCount, void* state) {
    (void)params, (void)paramsCount, (void)state;
    static const uint64_t image[4] = {1, 0, 0, 0}, detection[4] = {1, 1, 0, 7};
    *info = (struct CustomNodeTensorInfo*)node_alloc(2 * sizeof(struct CustomNodeTensorInfo));
    *infoCount = 2;
    return !*info || node_info(&(*info)[0], "image", image, 4, FP32) ||
           node_info(&(*info)[1], "detection", detection, 4, FP32);
}

DLL_PUBLIC int getOutputsInfo(struct CustomNodeTensorInfo** info, int* infoCount, const struct CustomNodeParam* params,
                              int paramsCount, void* state) {
    (void)params, (void)paramsCount;
    const struct crop_params* p = (const struct crop_params*)state;
    uint64_t images[5] = {0, 1, 0, p->height, p->width}, coordinates[3] = {0, 1, 4}, confidences[3] = {0, 1, 1};
    *info = (struct CustomNodeTensorInfo*)node_alloc(3 * sizeof(struct CustomNodeTensorInfo));
    *infoCount = 3;
    return !*info || node_info(&(*info)[0], "images", images, 5, FP32) ||
           node_info(&(*info)[1], "coordinates", coordinates, 3, FP32) ||
           node_info(&(*info)[2], "confidences", confidences, 3, FP32);
}
