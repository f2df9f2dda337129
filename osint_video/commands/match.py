"""`match` (which archived clips share footage or sound with this one), `index rebuild`/`compact`.

`match` takes a clip id, a sha256 prefix, or a file. A file already in the archive is the same
as its clip; a new file is fingerprinted and searched read-only (not ingested, not indexed, the
case store untouched): triage it to keep it, which also matches it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..config import Config
from ..errors import NotFound

err = Console(stderr=True, highlight=False, soft_wrap=True)


def _mmss(t: float) -> str:
    return f"{int(t // 60):02d}:{t % 60:04.1f}"


def _note(message: str) -> None:
    err.print(message, markup=False)


SENSES = {
    "picture": "picture",
    "both": "picture+sound",
    "sound": "shares sound with (sound only)",
}


def _print(summary: object) -> None:
    data = summary.as_json()  # type: ignore[attr-defined]
    err.print(
        f"{data['status']}: {data['message']} ({data['informative']}/{data['samples']} "
        f"informative samples, index of {data['index_size']} hashes)",
        markup=False,
    )
    for m in data["matches"]:
        modality = m.get("modality", "picture")
        picture = (
            f" frames={m['keyframe_pairs']} "
            f"distance min/median={m['distance_min']}/{m['distance_median']:g}"
            if m.get("keyframe_pairs")
            else ""
        )
        sound = (
            f" sound={m['sound_score']:.2f} bit error={m['sound_bit_error']:.2f}"
            if m.get("sound_score") is not None
            else ""
        )
        print(
            f"clip {m['clip_id']} {m['filename']} case={m['case'] or '-'} "
            f"score={m['score']:.2f} {SENSES.get(modality, modality)}{picture}{sound}"
            + (" mirrored" if m.get("mirrored") else "")
            + (" reframed" if m.get("picture_reframed") else "")
        )
        first = m.get("earliest_acquired_at")
        if first:
            where = f" from {m['source_url']}" if m.get("source_url") else ""
            print(f"  first acquired {first}{where}")
        picture_ranges = m.get("picture_ranges", m["ranges"])
        for what, ranges in (("picture", picture_ranges), ("sound", m.get("sound_ranges", []))):
            for r in ranges:
                print(
                    f"  {what}: {_mmss(r['other_start_s'])}-{_mmss(r['other_end_s'])} in clip "
                    f"{m['clip_id']} ~ {_mmss(r['this_start_s'])}-{_mmss(r['this_end_s'])} here"
                )
        for what in ("sound_differs", "picture_differs"):
            for r in m.get(what) or []:
                print(
                    f"  {what}: {_mmss(r['this_start_s'])}-{_mmss(r['this_end_s'])} here ~ "
                    f"{_mmss(r['other_start_s'])}-{_mmss(r['other_end_s'])} in clip {m['clip_id']}"
                )
    if data["duplicate_of_clip"] is not None:
        print(f"duplicate of clip {data['duplicate_of_clip']} (same case)")


def register(app: typer.Typer, cfg: Callable[[], Config]) -> None:
    """Add `match`, `index rebuild` and `index compact` to `app`."""
    index_app = typer.Typer(no_args_is_help=True, help="The archive index used by `match`.")
    app.add_typer(index_app, name="index")

    @app.command()
    def match(
        ref: Annotated[str, typer.Argument(help="Clip id, sha256 prefix, or a video file.")],
        as_json: Annotated[bool, typer.Option("--json", help="JSON object on stdout.")] = False,
    ) -> None:
        """Which archived clips share footage or sound with this one (time ranges, scores).

        Example: osint-video match clip.mp4 --json
        """
        from ..matching.both import match_clip_both, match_file_both
        from ..workspace import Workspace

        ws = Workspace.open(cfg())
        try:
            path = Path(ref)
            if path.is_file():
                summary = match_file_both(ws, path, notify=_note)
            else:
                try:
                    clip_id = ws.cases.resolve(ref)
                except NotFound as exc:
                    raise NotFound(f"{exc} (and no file {ref!r})") from None
                summary = match_clip_both(ws, clip_id, notify=_note)
        finally:
            ws.close()
        if as_json:
            sys.stdout.write(json.dumps(summary.as_json(), ensure_ascii=False) + "\n")
        else:
            _print(summary)

    @index_app.command("rebuild")
    def rebuild() -> None:
        """Rebuild the archive index from the case store's fingerprints (`[matching] shards`
        takes effect here).

        Example: osint-video index rebuild
        """
        from ..matching.index import rebuild as do_rebuild
        from ..matching.sound_index import rebuild as sound_rebuild
        from ..workspace import Workspace

        ws = Workspace.open(cfg())
        try:
            idx = do_rebuild(ws)
            clips = len(idx.clips())
            shards = len(idx.manifest.shards) if idx.manifest else 1
            heard = sound_rebuild(ws)
            heard_clips = len(heard.clips())
        finally:
            ws.close()
        err.print(
            f"index rebuilt: {len(idx)} hashes from {clips} clip(s) in {shards} shard(s) "
            f"at {idx.root}",
            markup=False,
        )
        err.print(
            f"sound index rebuilt: {len(heard)} sub-fingerprints from {heard_clips} clip(s) "
            f"at {heard.root}",
            markup=False,
        )

    @index_app.command("compact")
    def compact() -> None:
        """Merge each shard's segments into one, dropping removed and replaced entries.

        Searches go on meanwhile; a compaction already running is waited for. Compaction also
        runs by itself when due ([matching] compact_ratio).

        Example: osint-video index compact
        """
        from ..matching.compact import compact as do_compact
        from ..workspace import Workspace

        ws = Workspace.open(cfg())
        try:
            lines = do_compact(ws, full=True, notify=_note)
        finally:
            ws.close()
        for line in lines or ["nothing to compact"]:
            err.print(f"index compacted: {line}", markup=False)
