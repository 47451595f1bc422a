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
//! The crate still reads and decompresses the pages; their levels are
//! checked (every value present, every list `n` long) and their values
//! decoded straight into a buffer whose first value is on a 64-byte
//! boundary by [`parquet_flat_pages`]. A column chunk with a null
//! anywhere, a list of another length or an encoding that file does not
//! decode is left to the crate's reader (`Ok(None)`), which then decodes
//! it as before.

use std::mem::MaybeUninit;
use std::sync::Arc;

use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{ArrayRef, ArrowPrimitiveType, FixedSizeListArray, PrimitiveArray};
use arrow_buffer::{Buffer, ScalarBuffer};
use arrow_schema::{DataType, FieldRef};
use parquet::basic::Type as PhysicalType;
use parquet::column::page::PageReader;
use parquet::errors::Result as ParquetResult;
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::serialized_reader::SerializedPageReader;
use parquet::schema::types::{ColumnDescPtr, SchemaDescriptor};

use super::parquet_align::ALIGN;
use super::parquet_chunks::FetchedChunks;
use super::parquet_flat_pages;

/// A top-level column the flat decoder can read: a fixed-size list of one
/// of the four numeric types stored as themselves, not inside another list.
#[derive(Clone, Debug)]
pub(crate) struct FlatList {
    /// The column's one leaf among the file's leaf columns.
    leaf: usize,
    item: FieldRef,
    size: usize,
}

/// The flat list column `root` of a file (with arrow type `data_type`;
/// the file's leaf columns `descr`),
/// if it is one: see [`FlatList`].
pub(crate) fn flat_list(
    root: usize,
    data_type: &DataType,
    descr: &SchemaDescriptor,
) -> Option<FlatList> {
    let DataType::FixedSizeList(item, size) = data_type else {
        return None;
    };
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
        DataType::Float32 => flat::<Float32Type>(&descr, pages, rows, list.size)?,
        DataType::Float64 => flat::<Float64Type>(&descr, pages, rows, list.size)?,
        DataType::Int32 => flat::<Int32Type>(&descr, pages, rows, list.size)?,
        DataType::Int64 => flat::<Int64Type>(&descr, pages, rows, list.size)?,
        _ => None,
    };
    Ok(values.map(|values| {
        let array = FixedSizeListArray::new(list.item.clone(), list.size as i32, values, None);
        Arc::new(array) as ArrayRef
    }))
}

/// The `rows x size` values of a column chunk as a primitive array `A`,
/// or `None` if any is missing or a list has another length (see
/// [`parquet_flat_pages`]).
fn flat<A: ArrowPrimitiveType>(
    descr: &ColumnDescPtr,
    mut pages: Box<dyn PageReader>,
    rows: usize,
    size: usize,
) -> ParquetResult<Option<ArrayRef>> {
    let total = rows.saturating_mul(size);
    // Room for the values and for the few leading ones that put the first
    // real value on an ALIGN boundary; never more, so nothing moves.
    let width = std::mem::size_of::<A::Native>();
    let mut values: Vec<A::Native> = Vec::with_capacity(total + ALIGN / width);
    let skew = (ALIGN - values.as_ptr() as usize % ALIGN) % ALIGN;
    let pad = if skew.is_multiple_of(width) {
        skew / width
    } else {
        0
    };
    values.resize(pad, A::Native::default());
    let spare = &mut values.spare_capacity_mut()[..total];
    // SAFETY: the same memory as bytes: `total` values of `width` bytes,
    // uninitialized either way.
    let bytes = unsafe {
        std::slice::from_raw_parts_mut(spare.as_mut_ptr().cast::<MaybeUninit<u8>>(), total * width)
    };
    if !parquet_flat_pages::decode_into(pages.as_mut(), descr.max_def_level(), size, width, bytes)?
    {
        return Ok(None);
    }
    // SAFETY: decode_into wrote every byte of the `total` values (four
    // numeric types: any bytes are a value).
    unsafe { values.set_len(pad + total) };
    let buffer = Buffer::from_vec(values).slice_with_length(pad * width, total * width);
    let values = PrimitiveArray::<A>::new(ScalarBuffer::new(buffer, 0, total), None);
    Ok(Some(Arc::new(values)))
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
        let list = FixedSizeListArray::new(item, 2, Arc::new(values), None);
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(3))
            .build();
        written(list, props)
    }

    /// `list` as the one column of a file written with `props`: fetched
    /// whole, and its metadata as the reader loads it.
    fn written(
        list: FixedSizeListArray,
        props: WriterProperties,
    ) -> (Arc<FetchedChunks>, ArrowReaderMetadata) {
        let field = Field::new("emb", list.data_type().clone(), true);
        let schema = Arc::new(Schema::new(vec![field]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(list)]).unwrap();
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
    fn every_page_layout_decodes_as_the_crate_decodes_it() {
        use parquet::basic::Compression;
        use parquet::file::properties::WriterVersion;
        // 400 lists of 7: values repeat (a dictionary pays) for the first
        // half, then are all distinct (the dictionary overflows: plain).
        let values: Vec<f64> = (0..2800)
            .map(|v| if v < 1400 { v % 9 } else { v } as f64)
            .collect();
        let item = Arc::new(Field::new("item", DataType::Float64, true));
        let array = Arc::new(arrow_array::Float64Array::from(values.clone()));
        let list = FixedSizeListArray::new(item, 7, array, None);
        let props = |version, dictionary| {
            WriterProperties::builder()
                .set_writer_version(version)
                .set_dictionary_enabled(dictionary)
                .set_dictionary_page_size_limit(256)
                .set_data_page_size_limit(1000) // many pages, lists across them
                .set_write_batch_size(33)
                .set_compression(Compression::SNAPPY)
                .build()
        };
        let decoded = |list: &FixedSizeListArray, props| {
            let (chunks, meta) = written(list.clone(), props);
            let group = meta.metadata().row_group(0);
            let data_type = meta.schema().field(0).data_type().clone();
            let flat = flat_list(0, &data_type, group.schema_descr()).unwrap();
            decode(&flat, &chunks, group).unwrap()
        };
        for version in [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0] {
            for dictionary in [true, false] {
                let got = decoded(&list, props(version, dictionary));
                let got = got.unwrap_or_else(|| panic!("{version:?} {dictionary}: not decoded"));
                let got = got.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
                let got = got
                    .values()
                    .as_any()
                    .downcast_ref::<arrow_array::Float64Array>();
                assert_eq!(
                    got.unwrap().values().to_vec(),
                    values,
                    "{version:?} {dictionary}"
                );
            }
        }
        // Version 2 falls back from a dictionary of integers to the delta
        // encoding, which is left to the crate's reader.
        let ints = arrow_array::Int64Array::from_iter_values(values.iter().map(|&v| v as i64));
        let item = Arc::new(Field::new("item", DataType::Int64, true));
        let list = FixedSizeListArray::new(item, 7, Arc::new(ints), None);
        assert!(decoded(&list, props(WriterVersion::PARQUET_2_0, true)).is_none());
        assert!(decoded(&list, props(WriterVersion::PARQUET_1_0, true)).is_some());
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
                let list =
                    flat_list(0, &data_type, group.schema_descr()).expect("a flat list column");
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
        let list = flat_list(0, &data_type, group.schema_descr()).unwrap();
        let second = decode(&list, &chunks, group).unwrap().unwrap();
        assert_eq!(second.len(), 3);
        // Not a fixed-size list of numbers: not a flat list.
        assert!(flat_list(0, &DataType::Float32, group.schema_descr()).is_none());
    }
}
