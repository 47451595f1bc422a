"""``torch.distributed.checkpoint`` storage on every s3dlio backend.

```python
import torch.distributed.checkpoint as dcp
from s3dlio_torch.dcp import StorageReader, StorageWriter

dcp.save(state, storage_writer=StorageWriter("s3://b/ckpt/step-100"))
dcp.load(state, storage_reader=StorageReader("s3://b/ckpt/step-100"))
```

Each rank writes its tensors' bytes as they are in memory (no
serialisation, no staging copy for large tensors), its files in parallel
with one ``put_many``; ``.metadata`` is written last, by the coordinator,
so a checkpoint is visible only once complete, and a save's files have
names of their own, so a save that dies leaves the checkpoint before it
intact. Every stored item records its CRC32C, checked on load
(``ChecksumError`` naming the file). Loading reads every item a rank needs
with concurrent ranged GETs (``get_ranges``); DCP reshards to any world
size.
"""

from s3dlio_torch.dcp._reader import StorageReader
from s3dlio_torch.dcp._stored import StoredItem
from s3dlio_torch.dcp._writer import StorageWriter

__all__ = ["StorageReader", "StorageWriter", "StoredItem"]
