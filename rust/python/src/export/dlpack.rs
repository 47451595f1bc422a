//! The one DLPack exporter (`__dlpack__`) of host memory: a [`Tensor`] is
//! shared bytes seen as a C-contiguous tensor of one element type and
//! shape, and `BytesView`, `Batch` and `TensorView` each describe
//! themselves as one and call [`Tensor::export`]. The capsule's tensor
//! points at the `Bytes` it keeps alive, so torch/JAX/numpy share the
//! memory. Both the legacy (`dltensor`) and the versioned
//! (`dltensor_versioned`, DLPack 1.x, flagged read-only) capsules are
//! produced, as the consumer asks.

use std::ffi::{c_void, CStr};

use bytes::Bytes;
use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;

use crate::errors::{invalid_argument, to_pyerr};

const LEGACY_NAME: &CStr = c"dltensor";
const VERSIONED_NAME: &CStr = c"dltensor_versioned";
const DLPACK_MAJOR: u32 = 1;
const DLPACK_MINOR: u32 = 1;
const FLAG_READ_ONLY: u64 = 1 << 0;
const FLAG_IS_COPIED: u64 = 1 << 1;
/// `kDLCPU`.
const DEVICE_CPU: i32 = 1;
/// What every `__dlpack_device__` of s3dlio answers: `(kDLCPU, 0)`, host memory.
pub const DEVICE: (i32, i32) = (DEVICE_CPU, 0);
const DTYPE_UINT: u8 = 1;

#[repr(C)]
struct DLDevice {
    device_type: i32,
    device_id: i32,
}

#[repr(C)]
struct DLDataType {
    code: u8,
    bits: u8,
    lanes: u16,
}

#[repr(C)]
struct DLTensor {
    data: *mut c_void,
    device: DLDevice,
    ndim: i32,
    dtype: DLDataType,
    shape: *mut i64,
    strides: *mut i64,
    byte_offset: u64,
}

#[repr(C)]
struct DLManagedTensor {
    dl_tensor: DLTensor,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
}

#[repr(C)]
struct DLPackVersion {
    major: u32,
    minor: u32,
}

#[repr(C)]
struct DLManagedTensorVersioned {
    version: DLPackVersion,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensorVersioned)>,
    flags: u64,
    dl_tensor: DLTensor,
}

/// What a capsule keeps alive: the memory and the shape/strides arrays the
/// tensor points into. Holds no Python object, so it may be dropped on any
/// thread without the GIL (consumers free tensors wherever they like).
struct Holder {
    bytes: Bytes,
    shape: Vec<i64>,
    strides: Vec<i64>,
}

/// An element type a capsule can describe: `(DLPack type code, bits)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DType {
    code: u8,
    bits: u8,
}

impl DType {
    /// Bytes, the natural type of fetched objects.
    const UINT8: DType = DType {
        code: DTYPE_UINT,
        bits: 8,
    };

    /// Parse a numpy-style name (`"uint8"`, `"float32"`, `"bfloat16"`, ...).
    fn parse(name: &str) -> Option<Self> {
        let (code, bits) = match name {
            "int8" => (0, 8),
            "int16" => (0, 16),
            "int32" => (0, 32),
            "int64" => (0, 64),
            "uint8" => (1, 8),
            "uint16" => (1, 16),
            "uint32" => (1, 32),
            "uint64" => (1, 64),
            "float16" => (2, 16),
            "float32" => (2, 32),
            "float64" => (2, 64),
            "bfloat16" => (4, 16),
            _ => return None,
        };
        Some(DType { code, bits })
    }

    /// Size of one element in bytes.
    fn itemsize(self) -> usize {
        self.bits as usize / 8
    }
}

/// What the consumer asked for in `__dlpack__`.
struct Request {
    /// Produce a DLPack 1.x capsule (the consumer passed max_version >= 1).
    versioned: bool,
    /// The consumer demands a copy (`copy=True`).
    copy: bool,
}

impl Request {
    /// Validate `__dlpack__`'s keyword arguments for host memory.
    fn parse(
        max_version: Option<(u32, u32)>,
        dl_device: Option<(i32, i32)>,
        copy: Option<bool>,
    ) -> PyResult<Self> {
        if let Some(device) = dl_device {
            if device != (DEVICE_CPU, 0) {
                return Err(PyBufferError::new_err(format!(
                    "s3dlio memory is on the CPU (1, 0); cannot export to device {device:?} without a copy"
                )));
            }
        }
        Ok(Self {
            versioned: max_version.is_some_and(|(major, _)| major >= DLPACK_MAJOR),
            copy: copy == Some(true),
        })
    }
}

unsafe extern "C" fn delete_legacy(tensor: *mut DLManagedTensor) {
    // SAFETY: made by Box::into_raw in `capsule`, deleted once.
    let tensor = unsafe { Box::from_raw(tensor) };
    // SAFETY: the manager context is the Holder boxed with it.
    drop(unsafe { Box::from_raw(tensor.manager_ctx.cast::<Holder>()) });
}

unsafe extern "C" fn delete_versioned(tensor: *mut DLManagedTensorVersioned) {
    // SAFETY: made by Box::into_raw in `capsule`, deleted once.
    let tensor = unsafe { Box::from_raw(tensor) };
    // SAFETY: the manager context is the Holder boxed with it.
    drop(unsafe { Box::from_raw(tensor.manager_ctx.cast::<Holder>()) });
}

/// Capsule destructor: frees the tensor unless a consumer took it (and
/// renamed the capsule to `used_...`).
unsafe extern "C" fn destroy_capsule(capsule: *mut ffi::PyObject) {
    // SAFETY: called by the interpreter with a live capsule and the GIL.
    unsafe {
        if ffi::PyCapsule_IsValid(capsule, LEGACY_NAME.as_ptr()) == 1 {
            let tensor = ffi::PyCapsule_GetPointer(capsule, LEGACY_NAME.as_ptr());
            delete_legacy(tensor.cast());
        } else if ffi::PyCapsule_IsValid(capsule, VERSIONED_NAME.as_ptr()) == 1 {
            let tensor = ffi::PyCapsule_GetPointer(capsule, VERSIONED_NAME.as_ptr());
            delete_versioned(tensor.cast());
        }
    }
}

/// A DLPack capsule for `tensor` on the CPU, over its bytes or (when the
/// consumer demands it) over a copy of them.
fn capsule<'py>(
    py: Python<'py>,
    tensor: &Tensor,
    request: &Request,
) -> PyResult<Bound<'py, PyAny>> {
    let (bytes, dtype, shape) = (tensor.bytes.clone(), tensor.dtype, &tensor.shape[..]);
    let bytes = if request.copy {
        let mut buf = s3dlio_core::buffer::AlignedBuf::for_object("a DLPack copy", bytes.len())
            .map_err(to_pyerr)?;
        buf.extend_from_slice(&bytes);
        buf.freeze()
    } else {
        bytes
    };
    // Row-major strides, in elements.
    let mut strides = vec![1i64; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    let mut holder = Box::new(Holder {
        bytes,
        shape: shape.to_vec(),
        strides,
    });
    let tensor = DLTensor {
        data: holder.bytes.as_ptr() as *mut c_void,
        device: DLDevice {
            device_type: DEVICE_CPU,
            device_id: 0,
        },
        ndim: shape.len() as i32,
        dtype: DLDataType {
            code: dtype.code,
            bits: dtype.bits,
            lanes: 1,
        },
        shape: holder.shape.as_mut_ptr(),
        strides: holder.strides.as_mut_ptr(),
        byte_offset: 0,
    };
    let ctx = Box::into_raw(holder).cast::<c_void>();
    let (pointer, name) = if request.versioned {
        let flags = FLAG_READ_ONLY | if request.copy { FLAG_IS_COPIED } else { 0 };
        let managed = Box::new(DLManagedTensorVersioned {
            version: DLPackVersion {
                major: DLPACK_MAJOR,
                minor: DLPACK_MINOR,
            },
            manager_ctx: ctx,
            deleter: Some(delete_versioned),
            flags,
            dl_tensor: tensor,
        });
        (Box::into_raw(managed).cast::<c_void>(), VERSIONED_NAME)
    } else {
        let managed = Box::new(DLManagedTensor {
            dl_tensor: tensor,
            manager_ctx: ctx,
            deleter: Some(delete_legacy),
        });
        (Box::into_raw(managed).cast::<c_void>(), LEGACY_NAME)
    };
    // SAFETY: `pointer` is a live managed tensor owned by the new capsule.
    let raw = unsafe { ffi::PyCapsule_New(pointer, name.as_ptr(), Some(destroy_capsule)) };
    if raw.is_null() {
        // SAFETY: the capsule was not created, so we still own the tensor.
        unsafe {
            if request.versioned {
                delete_versioned(pointer.cast());
            } else {
                delete_legacy(pointer.cast());
            }
        }
        return Err(PyErr::fetch(py));
    }
    // SAFETY: PyCapsule_New returned a new reference.
    Ok(unsafe { Bound::from_owned_ptr(py, raw) })
}

/// Shared bytes seen as a C-contiguous tensor of one element type and
/// shape, which cover the bytes exactly: what every `__dlpack__` exports.
pub struct Tensor {
    bytes: Bytes,
    dtype: DType,
    shape: Vec<i64>,
}

impl Tensor {
    /// The bytes as a uint8 tensor of `shape`, whose elements the caller
    /// knows to number exactly `bytes.len()` (1-D: `[len]`).
    pub fn uint8(bytes: Bytes, shape: Vec<i64>) -> Self {
        debug_assert_eq!(shape.iter().product::<i64>(), bytes.len() as i64);
        Self {
            bytes,
            dtype: DType::UINT8,
            shape,
        }
    }

    /// The bytes as `dtype` (a numpy name: `"uint8"`, `"float32"`,
    /// `"bfloat16"`, ...) and `shape` (default 1-D; one dimension may be
    /// -1), which must cover them exactly; else InvalidArgumentError.
    pub fn shaped(bytes: Bytes, dtype: &str, shape: Option<Vec<i64>>) -> PyResult<Self> {
        let Some(dt) = DType::parse(dtype) else {
            return Err(invalid_argument(format!("unsupported dtype {dtype:?}")));
        };
        let itemsize = dt.itemsize();
        if !bytes.len().is_multiple_of(itemsize)
            || !(bytes.as_ptr() as usize).is_multiple_of(itemsize)
        {
            return Err(invalid_argument(format!(
                "{} bytes at 0x{:x} cannot be viewed as {dtype}",
                bytes.len(),
                bytes.as_ptr() as usize
            )));
        }
        let count = (bytes.len() / itemsize) as i64;
        let mut shape = shape.unwrap_or_else(|| vec![count]);
        let unknown: Vec<usize> = (0..shape.len()).filter(|&i| shape[i] == -1).collect();
        let known: i64 = shape.iter().filter(|&&d| d != -1).product();
        if unknown.len() > 1 || shape.iter().any(|&d| d < -1) {
            return Err(invalid_argument(format!("invalid shape {shape:?}")));
        }
        if let [i] = unknown[..] {
            if known == 0 || count % known != 0 {
                return Err(invalid_argument(format!(
                    "shape {shape:?} does not fit {count} elements of {dtype}"
                )));
            }
            shape[i] = count / known;
        }
        if shape.iter().product::<i64>() != count {
            return Err(invalid_argument(format!(
                "shape {shape:?} does not cover {count} elements of {dtype}"
            )));
        }
        Ok(Self {
            bytes,
            dtype: dt,
            shape,
        })
    }

    /// The shape, in elements.
    pub fn shape(&self) -> &[i64] {
        &self.shape
    }

    /// Address of the first byte.
    pub fn address(&self) -> usize {
        self.bytes.as_ptr() as usize
    }

    /// `__dlpack__` with the consumer's arguments: check them, then a
    /// capsule over the bytes (`stream` is irrelevant for host memory).
    pub fn export<'py>(
        &self,
        py: Python<'py>,
        stream: Option<Bound<'py, PyAny>>,
        max_version: Option<(u32, u32)>,
        dl_device: Option<(i32, i32)>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = stream; // host memory: no stream to synchronise with
        let request = Request::parse(max_version, dl_device, copy)?;
        capsule(py, self, &request)
    }
}
