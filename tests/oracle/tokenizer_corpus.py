"""A deterministic test corpus for the BERT tokenizer (tests/integration/tokenizer.rs).

Pure standard library, seeded: the same Python installation gives the same lines.
Sections (about 133k lines):
  stdlib       lines (and runs of lines, with their tabs and newlines) of the Python
               standard library's own source: English comments and docstrings, code
  licenses     the Python LICENSE and /usr/share/common-licenses, line by line
  vocab        every vocabulary entry alone, then random runs of entries in random case
  prompts      driving-domain class prompts as users type them, and normalised
  adversarial  mixes of accents and combining marks, CJK (in and out of BERT's blocks),
               Hangul, kana, emoji, controls, format and private-use characters, exotic
               white space, Unicode punctuation (some newer than Unicode 9), special
               token literals, numbers, mixed case
  long_words   words around BERT's 100-character limit, before and after normalisation
"""

import random
import sysconfig
from pathlib import Path

SEED = 20251121

# Character pools for the adversarial lines (no surrogates: Rust strings cannot hold them).
ACCENTED = "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïñòóôõöøùúûüýÿĀāĂăĄąĆćČčĎďĒēĘęĚěĞğİıĲĳŁłŃńŇňŐőŒœŘřŚśŞşŠšŢţŤťŮůŰűŸŹźŻżŽžǄǅǆǰȘșȚțẞếộữỳΆΈΐΰϒϓϔ"
COMBINING = [chr(c) for c in [*range(0x300, 0x370), 0x483, 0x591, 0x5B0, 0x64B, 0x670, 0x93C,
                              0x94D, 0x951, 0xE31, 0xE48, 0x1AB0, 0x1ABE, *range(0x1DC0, 0x1DD0),
                              0x20D0, 0x20E3, 0x20DD, 0xFE20, 0x302A, 0x3099, 0x309A,
                              0x1D165, 0x1D166, 0x1D16D, 0x1D172, 0xE0100, 0x11D31, 0x1E944]]
SCRIPTS = ("ΑαΒβΓγΔδΣσςΩωάέήίόύώ АаБбВвГгДдЁёЖжЙйЩщЫыЭэЮюЯя ԱաԲբ אבגדהוזחטיךכלםמ "
           "ابتثجحخدذرزسشصضطظعغفقكلمنهوي अआइईउऊकखगघङचछजझञटठडढणतथदधनपफबभमयरलवशषसह "
           "กขฃคฅฆงจฉชซฌญฎฏฐ ㄱㄲㄴㄷ가각간갇갈감갑강개객한국어 あいうえおかがきぎくぐけげこごさざアイウエオカガキギ"
           "ｱｲｳｴｵｶﾞ ᠠᠡᠢ ሀሁሂ ᏣᏤ ꓐꓑ 𐌰𐌱𐌲 𞤀𞤁𞤢")
CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
       (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
       # near BERT's blocks but outside them: radicals, extension F, G, strokes, enclosed CJK
       (0x2E80, 0x2EF3), (0x2CEB0, 0x2EBE0), (0x30000, 0x3134A), (0x31C0, 0x31E3), (0x3200, 0x32FF)]
EMOJI = ["😀", "🚗", "🚕", "🚙", "🚌", "🚑", "🚒", "🚓", "🛵", "🚲", "🛴", "🚦", "🚧", "🛑", "🐕",
         "🥰", "🫠", "🦾", "🛻", "🪨", "👍🏽", "👩‍👩‍👧", "❤️", "🏳️‍🌈", "🇩🇪", "1️⃣", "#️⃣", "©️", "™", "☃"]
CONTROLS = ([chr(c) for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]]
            + ["\u00AD", "\u061C", "\u180E", "\u200B", "\u200C", "\u200D", "\u200E", "\u200F",
               "\u202A", "\u202E", "\u2060", "\u2064", "\u2066", "\uFEFF", "\uFFF9", "\uFFFB",
               "\uFFFD", "\uFFFE", "\uFFFF", "\uE000", "\uF8FF", "\U000F0000", "\U0010FFFD",
               "\U000E0001", "\U000E0041", "\U000110BD", "\U0001BCA0", "\U0001D173", "\u0378",
               "\u0590", "\U0002FFFF", "\U000E0000"])
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0",
          "\u1680", "\u2000", "\u2005", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
PUNCT = ("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¡§«¶·»¿‐‑‒–—―‖‗‘’‚‛“”„‟†‡•‣․‥…‧‰′″‹›※‼‽⁂⁅⁆⁇⁈⁉⁎⁏⁐⁑⁓⁔⁕⁞"
         "⁽⁾₍₎⌈⌉〈〉❨❩❪❫❴❵⟅⟆⟦⟧⦃⦄⧘⧙⧼⧽⳹⳺⸀⸁⸎⸗⸚⸜⸝⸮⸰⸻⸼⹀⹁⹂⹃⹄⹉⹊⹏⹒⹝、。〃〈〉《》「」『』【】〔〕〜〝〞〟・"
         "﹐﹑﹒﹔﹕﹖﹗﹘﹙﹚﹝﹞﹟﹠！＂＃％＆＇（）＊，－．／：；？＠［＼］＿｛｝｡｢｣､･՚՛՜՝՞՟։֊׀׃׆׳״؉؊،؍؛؞؟٪٫٬٭۔"
         "।॥॰๏๚๛༄༅༆༇༈༉༊་༌།༎༏༐༑༒၊။၌၍၎၏჻፠፡።፣፤፥፦፧፨᙭᙮᚛᚜᛫᛬᛭᠀᠁᠂᠃᠄᠅᠆᠇᠈᠉᠊𐄀𐄁𑁇𑁈𑁉𖫵𝪋𞥞")
SYMBOLS = "©®°±×÷€£¥₹₿¢¤¦¨¬¯´¸∞√≤≥≠≈∑∏∫→←↑↓⇒♠♣♥♦★☆✓✗№℃℉ΩÅKⅠⅡⅫ½¾²³¹⁰ⁿ𝐀𝐁𝔸ﬁﬂﬃ−∓"
SPECIAL = ["[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", "[mask]", "[Cls]", "[CLS", "SEP]",
           "[[SEP]]", "[unused0]", "x[SEP]y", "[MASK][MASK]", "[ SEP ]", "##", "##ing", "#"]
NUMBERS = ["0", "42", "3.14159", "1,000,000", "2nd", "10km/h", "−5", "1e-9", "0x1F", "50%",
           "12:30", "2026-11-21", "٣٤", "४२", "１２３", "Ⅻ", "½", "10⁶", "$4.99", "€3,50"]
MIXED = ["McDonald", "iPhone", "NASA", "eBay", "CamelCaseWord", "snake_case_word", "kebab-case",
         "UPPER", "lower", "MiXeD", "ÉCOLE", "ΣΊΣΥΦΟΣ", "İSTANBUL", "ǅemal", "ẞTRASSE"]

CLASSES = ["car", "truck", "bus", "trailer", "construction vehicle", "pedestrian", "motorcycle",
           "bicycle", "cyclist", "traffic cone", "barrier", "traffic light", "stop sign",
           "road sign", "speed limit sign", "police car", "ambulance", "fire truck", "van",
           "pickup truck", "tram", "train", "stroller", "wheelchair", "child", "dog", "cat",
           "debris", "pothole", "lane marking", "crosswalk", "bollard", "scooter", "e-scooter",
           "delivery robot", "animal", "person on a bike", "parked car", "school bus",
           "road works", "emergency vehicle", "tractor", "horse", "deer", "bird", "umbrella",
           "shopping cart", "sidewalk", "curb", "guard rail", "street lamp", "tree", "building"]
ADJECTIVES = ["red", "white", "black", "parked", "moving", "occluded", "distant", "small",
              "large", "partially visible", "the", "a", "two", "many", "blurry", "wet"]
SEPARATORS = [", ", ",", ". ", " . ", ".", "; ", ";", "\n", " ,  ", ".\n", " | ", " and ", "/"]


def stdlib_files():
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts)


def read_lines(path):
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def stdlib_section(rng, singles, runs):
    lines = []
    for path in stdlib_files():
        lines.extend(read_lines(path))
    nonblank = [l for l in lines if l.strip()]
    out = rng.sample(nonblank, min(singles, len(nonblank)))
    for _ in range(runs):
        start = rng.randrange(len(lines) - 8)
        out.append("\n".join(lines[start:start + rng.randint(2, 8)]))
    return out


def license_section(limit):
    paths = [Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"]
    common = Path("/usr/share/common-licenses")
    if common.is_dir():
        paths += sorted(p for p in common.iterdir() if p.is_file())
    out = []
    for path in paths:
        if path.is_file():
            out.extend(l for l in read_lines(path) if l.strip())
    return out[:limit]


def recase(rng, s):
    return rng.choice([str.lower, str.upper, str.title, str.capitalize, lambda x: x,
                       lambda x: "".join(c.upper() if rng.random() < 0.5 else c for c in x)])(s)


def vocab_section(rng, vocab, runs):
    out = list(vocab)
    for _ in range(runs):
        parts = []
        for _ in range(rng.randint(1, 20)):
            token = recase(rng, rng.choice(vocab))
            if token.startswith("##") and rng.random() < 0.8:
                parts.append(token[2:])
            else:
                parts.append(rng.choice([" ", " ", "", "\t", ", "]) + token)
        out.append("".join(parts))
    return out


def prompt_section(rng, count):
    out = []
    for i in range(count):
        phrases = []
        for _ in range(rng.randint(1, 12)):
            phrase = rng.choice(CLASSES)
            if rng.random() < 0.3:
                phrase = rng.choice(ADJECTIVES) + " " + phrase
            phrases.append(recase(rng, phrase))
        if i % 2:
            out.append(" . ".join(p.lower() for p in phrases) + " .")
        else:
            text = ""
            for p in phrases:
                text += p + rng.choice(SEPARATORS)
            out.append(rng.choice(["", " ", "  "]) + text[: rng.randint(len(text) - 3, len(text))])
    return out


def cjk_char(rng):
    lo, hi = rng.choice(CJK)
    return chr(rng.randint(lo, hi))


def atom(rng):
    kind = rng.random()
    if kind < 0.15:
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 10)))
        return recase(rng, word)
    if kind < 0.27:
        base = rng.choice("aeiouAEIOUnNcCsyzkqh")
        return base + "".join(rng.choice(COMBINING) for _ in range(rng.randint(1, 4)))
    if kind < 0.37:
        return "".join(rng.choice(ACCENTED) for _ in range(rng.randint(1, 6)))
    if kind < 0.47:
        return "".join(rng.choice(SCRIPTS) for _ in range(rng.randint(1, 6)))
    if kind < 0.55:
        return "".join(cjk_char(rng) for _ in range(rng.randint(1, 4)))
    if kind < 0.61:
        return rng.choice(EMOJI)
    if kind < 0.68:
        return "".join(rng.choice(CONTROLS) for _ in range(rng.randint(1, 3)))
    if kind < 0.78:
        return "".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 5)))
    if kind < 0.83:
        return "".join(rng.choice(SYMBOLS) for _ in range(rng.randint(1, 3)))
    if kind < 0.87:
        return rng.choice(SPECIAL)
    if kind < 0.93:
        return rng.choice(NUMBERS)
    return rng.choice(MIXED)


def adversarial_section(rng, count):
    out = []
    for _ in range(count):
        text = ""
        for _ in range(rng.randint(1, 30)):
            text += atom(rng) + rng.choice(["", " ", " ", " ", rng.choice(SPACES)])
        out.append(text)
    return out


def long_word_section(rng, count):
    pieces = ["a", "b", "z", "ing", "é", "e\u0301", "한", "ｶ", "ß", "ǆ", "İ", "x\u0301\u0323", "٣"]
    out = []
    for _ in range(count):
        piece = rng.choice(pieces)
        n = rng.randint(90, 110) if rng.random() < 0.7 else rng.randint(1, 300)
        word = (piece * n)[: n if len(piece) == 1 else len(piece) * n]
        out.append(rng.choice(["", "x ", "the "]) + word + rng.choice(["", ".", " y", "!z"]))
    return out


def corpus(vocab):
    """The corpus lines, given the vocabulary's tokens in id order."""
    rng = random.Random(SEED)
    return (stdlib_section(rng, 50_000, 5_000) + license_section(10_000)
            + vocab_section(rng, vocab, 5_000) + prompt_section(rng, 10_000)
            + adversarial_section(rng, 20_000) + long_word_section(rng, 2_000))
