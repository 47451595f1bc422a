"""One get_many over all five schemes at once returns every object in input order."""

import s3dlio


def test_get_many_mixes_all_five_schemes(file_prefix, s3_prefix, az_prefix, gs_prefix, seed):
    prefixes = [
        f"{file_prefix}/f",
        file_prefix.replace("file://", "direct://", 1) + "/d",
        s3_prefix,
        az_prefix,
        gs_prefix,
    ]
    uris, expected = [], []
    for i in range(60):
        uri = f"{prefixes[i % 5]}/obj-{i:03d}"
        data = f"object {i} via {uri.split(':', 1)[0]}".encode() * (i + 1)
        seed(uri, data)
        uris.append(uri)
        expected.append(data)
    order = [*reversed(range(60)), 7, 7, 42]  # reversed, with duplicates
    got = s3dlio.get_many([uris[i] for i in order], max_in_flight=8)
    assert [u for u, _ in got] == [uris[i] for i in order]
    assert [bytes(v) for _, v in got] == [expected[i] for i in order]
    assert {u.split("://", 1)[0] for u, _ in got} == {"file", "direct", "s3", "az", "gs"}
