/* XOR with a repeating 4-byte key (RFC 6455 section 5.3 masking), at memory speed.
 *
 * Every buffer is taken with PyObject_GetBuffer and released on every path.
 * The bulk runs 32 bytes per step on unaligned 64-bit words (memcpy loads,
 * which compilers turn into single moves and vectorise); only the last
 * 0-31 bytes go byte by byte. The key is pre-rotated so that any offset
 * and any alignment take the same path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Above this size the GIL is released: the buffers are pinned (an exporter
 * such as bytearray cannot resize while we hold its buffer). */
#define RELEASE_GIL_FROM (64 * 1024)

static void
xor_into(unsigned char *dst, const unsigned char *src, Py_ssize_t size,
         const unsigned char key[4], unsigned offset)
{
    unsigned char rotated[8];
    uint64_t mask, word0, word1, word2, word3;
    Py_ssize_t i = 0;

    for (int j = 0; j < 8; j++) {
        rotated[j] = key[(offset + (unsigned)j) & 3];
    }
    memcpy(&mask, rotated, 8);
    for (; i + 32 <= size; i += 32) {
        memcpy(&word0, src + i, 8);
        memcpy(&word1, src + i + 8, 8);
        memcpy(&word2, src + i + 16, 8);
        memcpy(&word3, src + i + 24, 8);
        word0 ^= mask;
        word1 ^= mask;
        word2 ^= mask;
        word3 ^= mask;
        memcpy(dst + i, &word0, 8);
        memcpy(dst + i + 8, &word1, 8);
        memcpy(dst + i + 16, &word2, 8);
        memcpy(dst + i + 24, &word3, 8);
    }
    for (; i + 8 <= size; i += 8) {
        memcpy(&word0, src + i, 8);
        word0 ^= mask;
        memcpy(dst + i, &word0, 8);
    }
    for (; i < size; i++) {
        dst[i] = src[i] ^ rotated[i & 7];
    }
}

/* Take a C-contiguous buffer of `obj` (writable if asked); 0 on success. */
static int
get_contiguous(PyObject *obj, Py_buffer *view, int writable, const char *what)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_FULL_RO) < 0) {
        return -1;
    }
    if (!PyBuffer_IsContiguous(view, 'C')) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous buffer", what);
        return -1;
    }
    if (writable && view->readonly) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_TypeError, "%s must be a writable buffer, not '%.200s'",
                     what, Py_TYPE(obj)->tp_name);
        return -1;
    }
    return 0;
}

/* Read the key (exactly 4 bytes) into `key`; 0 on success. */
static int
read_key(PyObject *obj, unsigned char key[4])
{
    Py_buffer view;

    if (get_contiguous(obj, &view, 0, "key") < 0) {
        return -1;
    }
    if (view.len != 4) {
        PyErr_Format(PyExc_ValueError, "key must be 4 bytes long, not %zd", view.len);
        PyBuffer_Release(&view);
        return -1;
    }
    memcpy(key, view.buf, 4);
    PyBuffer_Release(&view);
    return 0;
}

/* The optional arguments after (data, key): start, end, offset. */
static const char *const OPTIONAL[] = {"start", "end", "offset"};

/* Sort positional and keyword arguments into data, key and OPTIONAL; 0 on success. */
static int
sort_args(const char *name, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
          PyObject *found[5])
{
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);

    if (nargs < 2 || nargs > 5) {
        PyErr_Format(PyExc_TypeError, "%s() takes from 2 to 5 positional arguments (%zd given)",
                     name, nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < 5; i++) {
        found[i] = i < nargs ? args[i] : NULL;
    }
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *keyword = PyTuple_GET_ITEM(kwnames, k);
        int slot = -1;
        for (int j = 0; j < 3; j++) {
            if (PyUnicode_CompareWithASCIIString(keyword, OPTIONAL[j]) == 0) {
                slot = j + 2;
            }
        }
        if (slot < 0) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'",
                         name, keyword);
            return -1;
        }
        if (found[slot] != NULL) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%U'",
                         name, keyword);
            return -1;
        }
        found[slot] = args[nargs + k];
    }
    return 0;
}

/* An optional index argument as a Py_ssize_t: `fallback` when absent or None. */
static int
as_index(PyObject *obj, Py_ssize_t fallback, Py_ssize_t *out)
{
    if (obj == NULL || obj == Py_None) {
        *out = fallback;
        return 0;
    }
    *out = PyNumber_AsSsize_t(obj, PyExc_OverflowError);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

/* Parse (data, key, start=0, end=None, offset=0): read the key and the offset. */
static int
parse_args(const char *name, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
           PyObject *found[5], unsigned char key[4], unsigned *offset)
{
    Py_ssize_t offset_value;

    if (sort_args(name, args, nargs, kwnames, found) < 0) {
        return -1;
    }
    if (found[4] == Py_None) {
        PyErr_Format(PyExc_TypeError, "%s() offset must be an integer, not None", name);
        return -1;
    }
    if (as_index(found[4], 0, &offset_value) < 0 || read_key(found[1], key) < 0) {
        return -1;
    }
    *offset = (unsigned)(((offset_value % 4) + 4) % 4);
    return 0;
}

/* Resolve start and end against `length` as data[start:end] would. */
static int
clamp(Py_ssize_t length, PyObject *found[5], Py_ssize_t *start, Py_ssize_t *end)
{
    if (as_index(found[2], 0, start) < 0 || as_index(found[3], length, end) < 0) {
        return -1;
    }
    if (PySlice_AdjustIndices(length, start, end, 1) == 0) {
        *end = *start; /* an empty slice: nothing to read or write */
    }
    return 0;
}

static void
xor_maybe_unlocked(unsigned char *dst, const unsigned char *src, Py_ssize_t size,
                   const unsigned char key[4], unsigned offset)
{
    if (size >= RELEASE_GIL_FROM) {
        Py_BEGIN_ALLOW_THREADS
        xor_into(dst, src, size, key, offset);
        Py_END_ALLOW_THREADS
    }
    else {
        xor_into(dst, src, size, key, offset);
    }
}

static PyObject *
xor_mask(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *found[5], *result;
    unsigned char key[4];
    Py_ssize_t start, end;
    unsigned offset;
    Py_buffer view;

    (void)module;
    if (parse_args("xor_mask", args, nargs, kwnames, found, key, &offset) < 0) {
        return NULL;
    }
    if (get_contiguous(found[0], &view, 0, "data") < 0) {
        return NULL;
    }
    /* The indices are read while the buffer is held: their __index__ cannot resize it. */
    if (clamp(view.len, found, &start, &end) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    result = PyBytes_FromStringAndSize(NULL, end - start);
    if (result != NULL) {
        xor_maybe_unlocked((unsigned char *)PyBytes_AS_STRING(result),
                           (const unsigned char *)view.buf + start, end - start, key, offset);
    }
    PyBuffer_Release(&view);
    return result;
}

static PyObject *
xor_mask_inplace(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *found[5];
    unsigned char key[4];
    Py_ssize_t start, end;
    unsigned offset;
    Py_buffer view;

    (void)module;
    if (parse_args("xor_mask_inplace", args, nargs, kwnames, found, key, &offset) < 0) {
        return NULL;
    }
    if (get_contiguous(found[0], &view, 1, "data") < 0) {
        return NULL;
    }
    if (clamp(view.len, found, &start, &end) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    unsigned char *where = (unsigned char *)view.buf + start;
    xor_maybe_unlocked(where, where, end - start, key, offset);
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(xor_mask_doc,
"xor_mask($module, data, key, /, start=0, end=None, offset=0)\n--\n\n"
"Return ``data[start:end]`` XORed with the 4-byte ``key`` repeated, as new bytes.\n\n"
"``data[start]`` is XORed with ``key[offset % 4]``; ``start`` and ``end`` are\n"
"byte indices, resolved as in a slice. This is RFC 6455 masking, its own\n"
"inverse. ``data`` and ``key`` may be any C-contiguous buffer, seen as its bytes.\n\n"
"Raises:\n"
"    TypeError: ``data`` or ``key`` is not a C-contiguous buffer.\n"
"    ValueError: ``key`` is not 4 bytes long.\n"
"    OverflowError: an index or ``offset`` does not fit a C ``Py_ssize_t``.\n");

PyDoc_STRVAR(xor_mask_inplace_doc,
"xor_mask_inplace($module, data, key, /, start=0, end=None, offset=0)\n--\n\n"
"XOR ``data[start:end]`` with the 4-byte ``key`` repeated, in place.\n\n"
"As :func:`xor_mask`, but ``data`` must be writable (a ``bytearray``, a\n"
"writable ``memoryview``) and is changed instead of copied.\n\n"
"Raises:\n"
"    TypeError: ``data`` is not a writable C-contiguous buffer, or ``key`` is\n"
"        not a C-contiguous buffer.\n"
"    ValueError: ``key`` is not 4 bytes long.\n"
"    OverflowError: an index or ``offset`` does not fit a C ``Py_ssize_t``.\n");

static PyMethodDef methods[] = {
    {"xor_mask", (PyCFunction)(void (*)(void))xor_mask, METH_FASTCALL | METH_KEYWORDS,
     xor_mask_doc},
    {"xor_mask_inplace", (PyCFunction)(void (*)(void))xor_mask_inplace,
     METH_FASTCALL | METH_KEYWORDS, xor_mask_inplace_doc},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot slots[] = {
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_GIL_DISABLED
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tidewire_speedups._native",
    .m_doc = "The compiled primitives of tidewire_speedups.",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    return PyModuleDef_Init(&module);
}
