//! One Arrow column handed out without a copy: as a tensor over its values
//! buffer ([`column_tensor`]: fixed-width numbers 1-D, fixed-size lists of
//! them 2-D), or as the Arrow array itself ([`Column`]), whose binary and
//! string values are also given as `BytesView`s over its values buffer.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, OffsetSizeTrait};
use arrow_buffer::Buffer;
use arrow_schema::{DataType, Field};
use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3_arrow::ffi::to_array_pycapsules;

use crate::errors::invalid_argument;
use crate::export::dlpack::Tensor;
use crate::export::view::BytesView;

/// The numpy name of a fixed-width number type, if it is one.
fn dtype_name(dt: &DataType) -> Option<&'static str> {
    Some(match dt {
        DataType::Int8 => "int8",
        DataType::Int16 => "int16",
        DataType::Int32 => "int32",
        DataType::Int64 => "int64",
        DataType::UInt8 => "uint8",
        DataType::UInt16 => "uint16",
        DataType::UInt32 => "uint32",
        DataType::UInt64 => "uint64",
        DataType::Float16 => "float16",
        DataType::Float32 => "float32",
        DataType::Float64 => "float64",
        _ => return None,
    })
}

/// An Arrow buffer as the owner of a `Bytes`.
struct Owned(Buffer);

impl AsRef<[u8]> for Owned {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// True when a column of type `dt` can be a tensor (nulls aside).
pub fn has_tensor_form(dt: &DataType) -> bool {
    match dt {
        DataType::FixedSizeList(item, _) => dtype_name(item.data_type()).is_some(),
        other => dtype_name(other).is_some(),
    }
}

/// The bytes of `buffer` as a `Bytes` that keeps it alive (no copy).
fn shared(buffer: Buffer) -> Bytes {
    Bytes::from_owner(Owned(buffer))
}

/// A fixed-width number array's values, `len` elements from its offset.
fn values_of(array: &ArrayRef) -> Option<(Bytes, &'static str)> {
    let name = dtype_name(array.data_type())?;
    let data = array.to_data();
    let width = data.data_type().primitive_width()?;
    let start = data.offset() * width;
    let bytes = shared(data.buffers()[0].clone());
    Some((bytes.slice(start..start + data.len() * width), name))
}

/// Column `name` of `origin`'s table as a tensor over its Arrow buffer.
pub fn column_tensor(origin: &str, name: &str, array: &ArrayRef) -> PyResult<Tensor> {
    let refuse = |why: String| {
        invalid_argument(format!(
            "{origin}: column {name:?} ({}) has no tensor form: {why}; read it as Arrow (Table.column)",
            array.data_type()
        ))
    };
    if array.null_count() > 0 {
        return Err(refuse(format!("{} nulls", array.null_count())));
    }
    let rows = array.len() as i64;
    if let Some((bytes, dtype)) = values_of(array) {
        return Tensor::shaped(bytes, dtype, Some(vec![rows]));
    }
    if let DataType::FixedSizeList(_, width) = array.data_type() {
        let list = array.as_fixed_size_list();
        let width = *width as usize;
        let values = list
            .values()
            .slice(list.value_offset(0).max(0) as usize, list.len() * width);
        if values.null_count() > 0 {
            return Err(refuse(format!("{} null list items", values.null_count())));
        }
        if let Some((bytes, dtype)) = values_of(&values) {
            return Tensor::shaped(bytes, dtype, Some(vec![rows, width as i64]));
        }
        return Err(refuse("its items are not fixed-width numbers".to_owned()));
    }
    Err(refuse("not fixed-width numbers".to_owned()))
}

/// One column of a `Table`: an Arrow array over the table's buffers.
#[pyclass(frozen, module = "s3dlio", name = "Column")]
pub struct Column {
    name: String,
    array: ArrayRef,
}

impl Column {
    pub fn new(name: String, array: ArrayRef) -> Self {
        Self { name, array }
    }
}

/// Each value of a binary or string array as a slice of its values buffer
/// (`None` for a null).
fn value_views<O: OffsetSizeTrait>(
    offsets: &[O],
    values: Buffer,
    valid: impl Fn(usize) -> bool,
) -> Vec<Option<BytesView>> {
    let values = shared(values);
    offsets
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            valid(i).then(|| BytesView::new(values.slice(w[0].as_usize()..w[1].as_usize())))
        })
        .collect()
}

#[pymethods]
impl Column {
    /// The column's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The Arrow type, as Arrow writes it (`Int64`, `Utf8`, ...).
    #[getter]
    fn r#type(&self) -> String {
        self.array.data_type().to_string()
    }

    /// Nulls in the column.
    #[getter]
    fn null_count(&self) -> usize {
        self.array.null_count()
    }

    fn __len__(&self) -> usize {
        self.array.len()
    }

    /// A binary or string column's values as zero-copy `BytesView`s of
    /// its values buffer (`None` for a null); other types are an
    /// InvalidArgumentError.
    fn views(&self) -> PyResult<Vec<Option<BytesView>>> {
        let array = &self.array;
        let valid = |i: usize| array.is_valid(i);
        Ok(match array.data_type() {
            DataType::Binary => {
                let a = array.as_binary::<i32>();
                value_views(a.value_offsets(), a.values().clone(), valid)
            }
            DataType::LargeBinary => {
                let a = array.as_binary::<i64>();
                value_views(a.value_offsets(), a.values().clone(), valid)
            }
            DataType::Utf8 => {
                let a = array.as_string::<i32>();
                value_views(a.value_offsets(), a.values().clone(), valid)
            }
            DataType::LargeUtf8 => {
                let a = array.as_string::<i64>();
                value_views(a.value_offsets(), a.values().clone(), valid)
            }
            other => {
                return Err(invalid_argument(format!(
                    "column {:?} is {other}, not binary or string: no byte views",
                    self.name
                )))
            }
        })
    }

    /// The Arrow array (Arrow PyCapsule interface), with no copy.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema; // the natural type is always exported
        let field = Arc::new(Field::new(&self.name, self.array.data_type().clone(), true));
        Ok(to_array_pycapsules(py, field, self.array.as_ref(), None)?)
    }

    fn __repr__(&self) -> String {
        format!(
            "Column(name={:?}, type={}, len={})",
            self.name,
            self.array.data_type(),
            self.array.len()
        )
    }
}
