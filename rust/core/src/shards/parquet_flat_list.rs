//! Fixed-size lists of numbers (embeddings: `FixedSizeList<float32, 768>`)
//! decoded into one flat, aligned buffer, without the `parquet` crate's
//! list reader.
//!
//! Written here because measured speed requires it: reading a 768-wide
//! float embedding, that reader spent its time on per-value work a list
//! with no nulls does not need (a validity bitmap built from every
//! value's definition level, a loop over every level to find the lists'
//! boundaries, the values copied twice, then once more to align them):
//! 55% of the CPU of suite 10, at 0.6 GB/s where pyarrow decodes at 1.
//! The crate's typed column reader ([`ColumnReaderImpl`]) still decodes
//! the pages (plain or dictionary, any codec) and their levels; this
//! file only checks the levels (every value present, every list `n`
//! long) and hands the values out as they landed, in a buffer whose
//! first value is on a 64-byte boundary. A column chunk with a null
//! anywhere, or a list of another length, is left to the crate's reader
//! (`Ok(None)`), which then decodes it as before.

use std::sync::Arc;

use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{ArrayRef, ArrowPrimitiveType, FixedSizeListArray, PrimitiveArray};
use arrow_buffer::{ArrowNativeType, Buffer, ScalarBuffer};
use arrow_schema::{DataType, FieldRef};
use parquet::basic::Type as PhysicalType;
use parquet::column::page::PageReader;
use parquet::column::reader::ColumnReaderImpl;
use parquet::data_type::Int64Type as PqInt64;
use parquet::data_type::{DataType as ParquetType, DoubleType, FloatType, Int32Type as PqInt32};
use parquet::errors::Result as ParquetResult;
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::serialized_reader::SerializedPageReader;
use parquet::schema::types::ColumnDescPtr;

use super::parquet_align::ALIGN;
use super::parquet_chunks::FetchedChunks;

/// Rows whose levels are decoded and checked at a time (the level buffers
/// are reused: 1024 rows of 768 values is 1.5 MiB per buffer).
const ROWS_AT_A_TIME: usize = 1024;

/// A top-level column the flat decoder can read: a fixed-size list of one
/// of the four numeric types stored as themselves, not inside another list.
#[derive(Clone, Debug)]
pub(crate) struct FlatList {
    /// The column's one leaf among the file's leaf columns.
    leaf: usize,
    item: FieldRef,
    size: usize,
}

/// The flat list column `root` of a file (with arrow type `data_type`),
/// if it is one: see [`FlatList`].
pub(crate) fn flat_list(
    root: usize,
    data_type: &DataType,
    group: &RowGroupMetaData,
) -> Option<FlatList> {
    let DataType::FixedSizeList(item, size) = data_type else {
        return None;
    };
    let descr = group.schema_descr();
    let mut leaves = (0..descr.num_columns()).filter(|&l| descr.get_column_root_idx(l) == root);
    let (leaf, None) = (leaves.next()?, leaves.next()) else {
        return None;
    };
    let column = descr.column(leaf);
    let stored = matches!(
        (item.data_type(), column.physical_type()),
        (DataType::Float32, PhysicalType::FLOAT)
            | (DataType::Float64, PhysicalType::DOUBLE)
            | (DataType::Int32, PhysicalType::INT32)
            | (DataType::Int64, PhysicalType::INT64)
    );
    (stored && column.max_rep_level() == 1 && *size > 0).then(|| FlatList {
        leaf,
        item: item.clone(),
        size: *size as usize,
    })
}

/// Column `list` of row group `group` (its chunk in `chunks`) as one
/// array, or `None` when it has a null or a list of another size.
pub(crate) fn decode(
    list: &FlatList,
    chunks: &Arc<FetchedChunks>,
    group: &RowGroupMetaData,
) -> ParquetResult<Option<ArrayRef>> {
    let column = group.column(list.leaf);
    let rows = group.num_rows().max(0) as usize;
    let pages = Box::new(SerializedPageReader::new(
        chunks.clone(),
        column,
        rows,
        None,
    )?);
    let descr = column.column_descr_ptr();
    let values = match list.item.data_type() {
        DataType::Float32 => flat::<FloatType, Float32Type>(descr, pages, rows, list.size)?,
        DataType::Float64 => flat::<DoubleType, Float64Type>(descr, pages, rows, list.size)?,
        DataType::Int32 => flat::<PqInt32, Int32Type>(descr, pages, rows, list.size)?,
        DataType::Int64 => flat::<PqInt64, Int64Type>(descr, pages, rows, list.size)?,
        _ => None,
    };
    Ok(values.map(|values| {
        let array = FixedSizeListArray::new(list.item.clone(), list.size as i32, values, None);
        Arc::new(array) as ArrayRef
    }))
}

/// The `rows x size` values of a column chunk as a primitive array `A`
/// (decoded as Parquet type `P`), or `None` if any is missing or a list
/// has another length.
fn flat<P, A>(
    descr: ColumnDescPtr,
    pages: Box<dyn PageReader>,
    rows: usize,
    size: usize,
) -> ParquetResult<Option<ArrayRef>>
where
    P: ParquetType,
    A: ArrowPrimitiveType<Native = P::T>,
    P::T: ArrowNativeType,
{
    let max_def = descr.max_def_level();
    let mut reader = ColumnReaderImpl::<P>::new(descr, pages);
    let total = rows.saturating_mul(size);
    // Room for the values and for the few leading ones that put the first
    // real value on an ALIGN boundary; never more, so nothing moves.
    let width = std::mem::size_of::<P::T>();
    let mut values: Vec<P::T> = Vec::with_capacity(total + ALIGN / width);
    let skew = (ALIGN - values.as_ptr() as usize % ALIGN) % ALIGN;
    let pad = if skew.is_multiple_of(width) {
        skew / width
    } else {
        0
    };
    values.resize(pad, P::T::default());
    let (mut def, mut rep) = (Vec::new(), Vec::new());
    let mut done = 0;
    while done < rows {
        def.clear();
        rep.clear();
        let want = ROWS_AT_A_TIME.min(rows - done);
        let before = values.len();
        let (records, read, levels) =
            reader.read_records(want, Some(&mut def), Some(&mut rep), &mut values)?;
        let whole = records > 0
            && levels == records * size
            && read == levels
            && values.len() - before == levels
            && def[..levels].iter().all(|&d| d == max_def)
            && lists_of(&rep[..levels], size);
        if !whole {
            return Ok(None);
        }
        done += records;
    }
    if values.len() != pad + total {
        return Ok(None);
    }
    let buffer = Buffer::from_vec(values).slice_with_length(pad * width, total * width);
    let values = PrimitiveArray::<A>::new(ScalarBuffer::new(buffer, 0, total), None);
    Ok(Some(Arc::new(values)))
}

/// Whether repetition levels `rep` start a list (0) every `size` levels
/// and continue it (not 0) in between.
fn lists_of(rep: &[i16], size: usize) -> bool {
    rep.chunks_exact(size)
        .all(|list| list[0] == 0 && !list[1..].contains(&0))
        && rep.len().is_multiple_of(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Float32Array, RecordBatch};
    use arrow_schema::{Field, Schema};
    use bytes::Bytes;
    use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    /// A file of two row groups of 3 rows of one `FixedSizeList<f32, 2>`
    /// column, whose values are 0, 1, 2, ... (`null` at value `hole`):
    /// fetched whole, and its metadata as the reader loads it.
    fn file(hole: Option<usize>) -> (Arc<FetchedChunks>, ArrowReaderMetadata) {
        let item = Arc::new(Field::new("item", DataType::Float32, true));
        let values: Float32Array = (0..12)
            .map(|v| (Some(v) != hole).then_some(v as f32))
            .collect();
        let list = FixedSizeListArray::new(item.clone(), 2, Arc::new(values), None);
        let field = Field::new("emb", DataType::FixedSizeList(item, 2), true);
        let schema = Arc::new(Schema::new(vec![field]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(list)]).unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(3))
            .build();
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let bytes = Bytes::from(out);
        let meta = ArrowReaderMetadata::load(&bytes, ArrowReaderOptions::new()).unwrap();
        let len = bytes.len() as u64;
        let whole = 0..len;
        let chunks = FetchedChunks::new(len, std::slice::from_ref(&whole), vec![bytes]);
        (Arc::new(chunks), meta)
    }

    #[test]
    fn lists_without_nulls_come_out_flat_and_aligned_and_others_are_left() {
        let (chunks, meta) = file(Some(8)); // a null in row group 1
        let data_type = meta.schema().field(0).data_type().clone();
        let decoded: Vec<Option<ArrayRef>> = meta
            .metadata()
            .row_groups()
            .iter()
            .map(|group| {
                let list = flat_list(0, &data_type, group).expect("a flat list column");
                decode(&list, &chunks, group).unwrap()
            })
            .collect();
        let first = decoded[0].as_ref().expect("row group 0 has no null");
        let first = first.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
        let values = first
            .values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .unwrap();
        assert_eq!(values.values().to_vec(), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(values.values().as_ptr() as usize % ALIGN, 0);
        assert_eq!(first.null_count(), 0);
        assert!(
            decoded[1].is_none(),
            "a null item: left to the crate's reader"
        );
        let (chunks, meta) = file(None);
        let group = meta.metadata().row_group(1);
        let list = flat_list(0, &data_type, group).unwrap();
        let second = decode(&list, &chunks, group).unwrap().unwrap();
        assert_eq!(second.len(), 3);
        // Not a fixed-size list of numbers: not a flat list.
        assert!(flat_list(0, &DataType::Float32, group).is_none());
    }

    #[test]
    fn lists_are_checked_for_their_length() {
        assert!(lists_of(&[0, 1, 1, 0, 1, 1], 3));
        assert!(!lists_of(&[0, 1, 0, 1, 1, 1], 3));
        assert!(!lists_of(&[0, 1, 1, 0, 1], 3));
        assert!(lists_of(&[0, 0], 1));
    }
}
