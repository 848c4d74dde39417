/*
 * pyovms._buffer: the base class that gives pyovms.Tensor the buffer protocol on Python < 3.12
 * (where a class written in Python cannot export a buffer; 3.12+ uses Tensor.__buffer__).
 *
 * A BufferBase holds one exporter (the tensor's read-only numpy view) and hands out that
 * object's buffer, read-only: memoryview(t), numpy.frombuffer(t), io.BytesIO(t) then work
 * as with OVMS's pybind11 Tensor. Built when a C compiler is present (optional in setup.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject_HEAD
    PyObject *exporter;
} BufferBase;

static int
BufferBase_getbuffer(BufferBase *self, Py_buffer *view, int flags)
{
    if (self->exporter == NULL) {
        PyErr_SetString(PyExc_BufferError, "pyovms.Tensor has no buffer yet");
        return -1;
    }
    if (flags & PyBUF_WRITABLE) {
        PyErr_SetString(PyExc_BufferError, "pyovms.Tensor is read-only");
        return -1;
    }
    /* view->obj is the exporter: PyBuffer_Release releases the buffer where it came from */
    return PyObject_GetBuffer(self->exporter, view, flags);
}

static PyBufferProcs BufferBase_as_buffer = {
    (getbufferproc)BufferBase_getbuffer,
    NULL,
};

static PyObject *
BufferBase_export(BufferBase *self, PyObject *exporter)
{
    if (!PyObject_CheckBuffer(exporter)) {
        PyErr_SetString(PyExc_TypeError, "pyovms.Tensor: the exporter must support the buffer protocol");
        return NULL;
    }
    Py_INCREF(exporter);
    Py_XSETREF(self->exporter, exporter);
    Py_RETURN_NONE;
}

static void
BufferBase_dealloc(BufferBase *self)
{
    Py_CLEAR(self->exporter);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef BufferBase_methods[] = {
    {"_export", (PyCFunction)BufferBase_export, METH_O, "Set the object whose buffer the tensor exports."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject BufferBaseType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyovms._buffer.BufferBase",
    .tp_basicsize = sizeof(BufferBase),
    .tp_dealloc = (destructor)BufferBase_dealloc,
    .tp_as_buffer = &BufferBase_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "A read-only buffer exporter (the base of pyovms.Tensor).",
    .tp_methods = BufferBase_methods,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef buffer_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pyovms._buffer",
    .m_doc = "The buffer protocol for pyovms.Tensor on Python < 3.12.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__buffer(void)
{
    if (PyType_Ready(&BufferBaseType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&buffer_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&BufferBaseType);
    if (PyModule_AddObject(module, "BufferBase", (PyObject *)&BufferBaseType) < 0) {
        Py_DECREF(&BufferBaseType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
