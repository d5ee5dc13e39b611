"""The web book: one HTML file with every picture, voice and the font inside it, that reads
itself aloud offline on a phone, a tablet or a computer. The Preview tab shows the same page.

Pictures are JPEG and narrations MP3 data URIs (MP3 plays in every browser); the chosen Nanum
font is embedded as a subset holding only the characters of this book. All text is escaped;
no book text ever reaches the script (it only reads data attributes we write: numbers).
"""
from __future__ import annotations

import base64
import logging
from pathlib import Path

from studio.export.av import compressed_clips
from studio.export.common import (DEFAULT_PAGE_S, FONT_FAMILIES, ExportBook, ExportError, ProgressFn, colophon,
                                  find_ffmpeg, font_subset, output_path, xml_paragraphs, xml_text)
from studio.jobs import Progress

log = logging.getLogger(__name__)

LABELS = {
    "ko": {"read": "▶ 읽어 주기", "browse": "넘겨 보기", "prev": "◀ 이전", "next": "다음 ▶", "play": "▶ 듣기",
           "pause": "❚❚ 멈춤", "auto": "자동으로 넘기기", "cover": "표지", "end": "끝", "again": "처음부터"},
    "en": {"read": "▶ Read to me", "browse": "Turn the pages", "prev": "◀ Back", "next": "Next ▶", "play": "▶ Listen",
           "pause": "❚❚ Pause", "auto": "Turn pages by itself", "cover": "Cover", "end": "The end",
           "again": "From the start"},
}


def export_webbook(book: ExportBook, out_dir: Path, font: str = "myeongjo", settings=None,
                   on_progress: ProgressFn | None = None) -> Path:
    target = output_path(out_dir, book, "html")
    partial = target.with_name(f".{target.name}.part")
    partial.write_text(reader_html(book, font, settings, on_progress), encoding="utf-8")
    partial.replace(target)
    return target


def reader_html(book: ExportBook, font: str = "myeongjo", settings=None, on_progress: ProgressFn | None = None) -> str:
    """The whole self-contained reader as an HTML document."""
    report = on_progress or (lambda p: None)
    report(Progress(0, 3, "Preparing the narration"))
    audio = _audio_sources(book, settings)
    report(Progress(1, 3, "Embedding the font"))
    lang = "ko" if book.language == "ko" else "en"
    words = LABELS[lang]
    heading, lines = colophon(book)
    font_face = _font_face(font, book, extra=heading + " ".join(lines))
    credits = "".join(f'<p class="colophon-line">{xml_text(line)}</p>' for line in lines)
    report(Progress(2, 3, "Laying out the pages"))
    pages = "\n".join(_page_section(page, audio.get(page.number)) for page in book.pages)
    dedication = f'<p class="dedication">{xml_text(book.dedicated_to)}</p>' if book.dedicated_to else ""
    document = f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; media-src data:; font-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{xml_text(book.title)}</title>
<style>{font_face}{_CSS.replace("__FAMILY__", FONT_FAMILIES.get(font, FONT_FAMILIES["myeongjo"]))}</style>
</head>
<body>
<main id="book" data-default-seconds="{DEFAULT_PAGE_S:g}">
<section class="sheet cover" data-page="0">
<img class="picture" alt="{xml_text(book.title)}" src="data:image/jpeg;base64,{_b64(book.cover_jpeg)}">
<h1 class="title">{xml_text(book.title)}</h1>
{dedication}
<div class="start"><button id="read" class="primary" type="button">{words["read"]}</button>
<button id="browse" type="button">{words["browse"]}</button></div>
</section>
{pages}
<section class="sheet end" data-page="{len(book.pages) + 1}" hidden>
<p class="fin">{words["end"]}</p><p class="dedication">{xml_text(book.dedicated_to)}</p>
<div class="colophon"><p class="colophon-title">{xml_text(heading)}</p>{credits}</div>
<div class="start"><button id="again" type="button">{words["again"]}</button></div>
</section>
<nav class="controls">
<button id="prev" type="button" aria-label="{words["prev"]}">{words["prev"]}</button>
<button id="play" type="button" data-play="{words["play"]}" data-pause="{words["pause"]}">{words["play"]}</button>
<button id="next" type="button" aria-label="{words["next"]}">{words["next"]}</button>
</nav>
<label class="auto"><input id="auto" type="checkbox" checked> {words["auto"]}</label>
<p id="where" class="where" aria-live="polite"></p>
</main>
<script>{_SCRIPT}</script>
</body>
</html>
"""
    report(Progress(3, 3, "Web book ready"))
    return document


def _page_section(page, audio: tuple[str, bytes] | None) -> str:
    sound = ""
    if audio is not None:
        mime, data = audio
        sound = (f'<audio class="narration" id="audio-{page.number}" preload="auto" '
                 f'src="data:{mime};base64,{_b64(data)}"></audio>')
    return (f'<section class="sheet page" data-page="{page.number}" data-seconds="{page.shown_s:.3f}" hidden>\n'
            f'<img class="picture" alt="{xml_text(page.text[:300])}" '
            f'src="data:image/jpeg;base64,{_b64(page.image_jpeg)}">\n'
            f'<p class="text">{xml_paragraphs(page.text)}</p>\n{sound}\n</section>')


def _audio_sources(book: ExportBook, settings) -> dict[int, tuple[str, bytes]]:
    """MP3 clips when ffmpeg can make them; the original WAV otherwise (bigger, still plays)."""
    if not book.narrated:
        return {}
    try:
        timeout = float(getattr(settings, "subprocess_timeout_s", 600.0))
        clips = compressed_clips(book, find_ffmpeg(settings), timeout, ext="mp3")
        return {n: ("audio/mpeg", path.read_bytes()) for n, path in clips.items()}
    except ExportError as exc:
        log.warning("web book: embedding WAV narration (%s)", exc)
        return {p.number: ("audio/wav", p.narration.read_bytes()) for p in book.narrated}


def _font_face(font: str, book: ExportBook, extra: str = "") -> str:
    """@font-face with only this book's characters (a few KB instead of 4 MB)."""
    ttf = font_subset(font, book, extra=" ".join([*LABELS["ko"].values(), *LABELS["en"].values(), extra]))
    family = FONT_FAMILIES[font].split(",")[0]
    return (f"@font-face{{font-family:{family};src:url(data:font/ttf;base64,{_b64(ttf)}) "
            "format('truetype');font-display:block}\n")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


_CSS = """
*{box-sizing:border-box}
html,body{margin:0;background:#f3e9da;color:#4a3428;font-family:__FAMILY__;-webkit-text-size-adjust:100%}
main{max-width:640px;margin:0 auto;min-height:100vh;padding:12px 12px 20px;display:flex;flex-direction:column}
.sheet{background:#faf3e8;border-radius:18px;box-shadow:0 4px 18px rgba(90,60,30,.15);padding:14px;text-align:center}
.picture{display:block;width:min(100%,58vh);margin:0 auto;aspect-ratio:1/1;object-fit:contain;border-radius:12px;background:#f1e4d0}
.title{font-size:clamp(1.6rem,6vw,2.3rem);font-weight:normal;margin:.7em 0 .2em}
.dedication{color:#826046;font-size:1.05rem;margin:.3em 0 .8em}
.text{font-size:clamp(1.15rem,4.6vw,1.45rem);line-height:1.75;margin:.9em .4em .3em;min-height:3.5em;word-break:keep-all}
.text.reading{background:#ffe9b8;border-radius:10px}
.where{color:#967860;font-size:.9rem;margin:.3em 0}
.fin{font-size:2rem;margin:2em 0 .5em}
.colophon{margin:1.4em .6em .4em;color:#7a5f4c;font-size:.9rem;line-height:1.6;word-break:keep-all}
.colophon-title{font-size:1rem;margin:.2em 0 .5em;color:#4a3428}
.colophon-line{margin:.3em 0}
.start{display:flex;gap:10px;justify-content:center;flex-wrap:wrap;margin-top:.6em}
button{font:inherit;font-size:1.05rem;border:0;border-radius:999px;padding:.7em 1.2em;background:#ecd9bf;color:#4a3428;cursor:pointer;min-height:48px}
button.primary,#play{background:#e5894a;color:#fff}
button:disabled{opacity:.4;cursor:default}
.controls{display:grid;grid-template-columns:1fr 1.2fr 1fr;gap:8px;margin-top:12px}
.controls button{white-space:nowrap;padding:.6em .3em}
.auto{display:flex;gap:.4em;align-items:center;justify-content:center;margin-top:10px;font-size:.95rem}
.auto input{width:22px;height:22px}
.where{text-align:center}
"""

_SCRIPT = """
(function(){
  var sheets=[].slice.call(document.querySelectorAll('.sheet'));
  var last=sheets.length-1, current=0, timer=null, playing=false;
  var auto=document.getElementById('auto'), playBtn=document.getElementById('play');
  var where=document.getElementById('where');
  var fallback=parseFloat(document.getElementById('book').dataset.defaultSeconds)||5;
  function audioOf(i){return sheets[i].querySelector('audio');}
  function stopSound(){
    clearTimeout(timer); timer=null;
    sheets.forEach(function(s){var a=s.querySelector('audio'); if(a){a.pause();}
      var t=s.querySelector('.text'); if(t){t.classList.remove('reading');}});
  }
  function label(){playBtn.textContent=playing?playBtn.dataset.pause:playBtn.dataset.play;}
  function show(i){
    stopSound();
    current=Math.max(0,Math.min(last,i));
    sheets.forEach(function(s,k){s.hidden=(k!==current);});
    document.getElementById('prev').disabled=current===0;
    document.getElementById('next').disabled=current===last;
    where.textContent=(current>0&&current<last)?(current+' / '+(last-1)):'';
    document.body.dataset.page=String(current);
    if(playing){speak();}
    label();
  }
  function advance(){ if(playing&&auto.checked&&current<last){show(current+1);} else if(current>=last){playing=false;label();} }
  function speak(){
    var s=sheets[current], a=audioOf(current), t=s.querySelector('.text');
    if(current===0||current===last){ if(current===0&&playing){timer=setTimeout(advance,1500);} return; }
    if(a){
      if(t){t.classList.add('reading');}
      a.currentTime=0;
      var p=a.play(); if(p&&p.catch){p.catch(function(){playing=false;label();});}
    } else {
      timer=setTimeout(advance,(parseFloat(s.dataset.seconds)||fallback)*1000);
    }
  }
  sheets.forEach(function(s,k){var a=s.querySelector('audio'); if(a){a.addEventListener('ended',function(){
    var t=s.querySelector('.text'); if(t){t.classList.remove('reading');}
    if(k===current){advance();}
  });}});
  document.getElementById('prev').onclick=function(){show(current-1);};
  document.getElementById('next').onclick=function(){show(current+1);};
  playBtn.onclick=function(){ playing=!playing; if(playing){ if(current===0||current===last){show(1);} else {speak();} } else {stopSound();} label(); };
  document.getElementById('read').onclick=function(){playing=true; show(1);};
  document.getElementById('browse').onclick=function(){playing=false; show(1);};
  document.getElementById('again').onclick=function(){playing=false; show(0);};
  document.addEventListener('keydown',function(e){ if(e.key==='ArrowRight'){show(current+1);} if(e.key==='ArrowLeft'){show(current-1);} });
  var x0=null;
  document.addEventListener('touchstart',function(e){x0=e.touches[0].clientX;},{passive:true});
  document.addEventListener('touchend',function(e){ if(x0===null){return;} var dx=e.changedTouches[0].clientX-x0; x0=null;
    if(Math.abs(dx)>60){show(current+(dx<0?1:-1));} },{passive:true});
  show(0);
})();
"""
