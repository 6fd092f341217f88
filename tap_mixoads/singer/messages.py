"""Records a stream writes outside the SDK's own loop, through its maps.

Two kinds of record do not come out of a stream's ``get_records`` in the
SDK's order: the sync events flushed while the campaigns stream still runs
(so the loader parses them as they come, not all after the last campaign),
and the removal marks, which need a SCHEMA narrowed to the columns they set
(target-postgres updates exactly the columns of the SCHEMA it was given).
Both go through the stream's maps (alias, filters, selection) with public
SDK parts only: ``Stream.stream_maps``, ``StreamMap.transform`` and
``Tap.write_message``. Each stream's SCHEMA is written once per writer, not
once per batch.
"""

from __future__ import annotations

import datetime
import typing as t

import singer_sdk.singerlib as singer

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk import Stream, Tap


class SideWriter:
    """Writes one stream's records outside its sync, its SCHEMA once.

    Args:
        tap: the tap whose message writer is used.
        stream: the stream the records belong to.
        narrow: send a SCHEMA with only the columns the records carry (a
            partial update); else the stream's whole mapped SCHEMA.
        needs: a column without which a record means nothing: a map that
            drops it (or a catalog that deselects it) gets no record.
    """

    def __init__(
        self,
        tap: Tap,
        stream: Stream,
        *,
        narrow: bool = False,
        needs: str | None = None,
    ) -> None:
        self.tap = tap
        self.stream = stream
        self.narrow = narrow
        self.needs = needs
        self._schema_written: set[str] = set()

    def write(self, records: Iterable[dict[str, t.Any]]) -> int:
        """Write ``records`` through every map of the stream; how many went out."""
        written = 0
        now = datetime.datetime.now(datetime.timezone.utc)
        records = list(records)
        if self.needs is not None and not self.stream.mask.get(
            ("properties", self.needs), True
        ):
            return 0  # deselected in the catalog
        for stream_map in self.stream.stream_maps:
            properties = stream_map.transformed_schema.get("properties", {})
            if self.needs is not None and self.needs not in properties:
                continue  # mapped away: nothing to write
            for record in records:
                mapped = stream_map.transform(dict(record))
                if mapped is None:
                    continue
                alias = stream_map.stream_alias
                if alias not in self._schema_written:
                    self._write_schema(stream_map, properties, mapped)
                    self._schema_written.add(alias)
                self.tap.write_message(
                    singer.RecordMessage(
                        stream=alias, record=mapped, time_extracted=now
                    )
                )
                written += 1
        return written

    def _write_schema(
        self,
        stream_map: t.Any,
        properties: dict[str, t.Any],
        mapped: dict[str, t.Any],
    ) -> None:
        schema = dict(stream_map.transformed_schema)
        if self.narrow:
            schema["properties"] = {k: v for k, v in properties.items() if k in mapped}
            schema.pop("required", None)
        self.tap.write_message(
            singer.SchemaMessage(
                stream_map.stream_alias,
                schema,
                stream_map.transformed_key_properties,
            )
        )
