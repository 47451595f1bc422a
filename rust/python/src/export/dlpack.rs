//! DLPack export of host memory (`__dlpack__`): the capsule's tensor points
//! at the `Bytes` it keeps alive, so torch/JAX/numpy share the memory.
//! Both the legacy (`dltensor`) and the versioned (`dltensor_versioned`,
//! DLPack 1.x, flagged read-only) capsules are produced, as the consumer asks.

use std::ffi::{c_void, CStr};

use bytes::Bytes;
use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;

use crate::errors::to_pyerr;

const LEGACY_NAME: &CStr = c"dltensor";
const VERSIONED_NAME: &CStr = c"dltensor_versioned";
const DLPACK_MAJOR: u32 = 1;
const DLPACK_MINOR: u32 = 1;
const FLAG_READ_ONLY: u64 = 1 << 0;
const FLAG_IS_COPIED: u64 = 1 << 1;
/// `kDLCPU`.
pub const DEVICE_CPU: i32 = 1;
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
pub struct DType {
    code: u8,
    bits: u8,
}

impl DType {
    /// Bytes, the natural type of fetched objects.
    pub const UINT8: DType = DType {
        code: DTYPE_UINT,
        bits: 8,
    };

    /// Parse a numpy-style name (`"uint8"`, `"float32"`, `"bfloat16"`, ...).
    pub fn parse(name: &str) -> Option<Self> {
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
    pub fn itemsize(self) -> usize {
        self.bits as usize / 8
    }
}

/// What the consumer asked for in `__dlpack__`.
pub struct Request {
    /// Produce a DLPack 1.x capsule (the consumer passed max_version >= 1).
    pub versioned: bool,
    /// The consumer demands a copy (`copy=True`).
    pub copy: bool,
}

impl Request {
    /// Validate `__dlpack__`'s keyword arguments for host memory.
    pub fn parse(
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

/// A DLPack capsule for `bytes` as a C-contiguous tensor of `dtype` and
/// `shape` on the CPU (the caller checked that the shape covers the bytes).
pub fn capsule<'py>(
    py: Python<'py>,
    bytes: Bytes,
    dtype: DType,
    shape: &[i64],
    request: &Request,
) -> PyResult<Bound<'py, PyAny>> {
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

/// `__dlpack__` of host memory: check the consumer's request, then a
/// capsule of `dtype` and `shape` over `bytes` (the stream is irrelevant
/// for host memory).
pub fn export<'py>(
    py: Python<'py>,
    bytes: Bytes,
    dtype: DType,
    shape: &[i64],
    max_version: Option<(u32, u32)>,
    dl_device: Option<(i32, i32)>,
    copy: Option<bool>,
) -> PyResult<Bound<'py, PyAny>> {
    let request = Request::parse(max_version, dl_device, copy)?;
    capsule(py, bytes, dtype, shape, &request)
}
