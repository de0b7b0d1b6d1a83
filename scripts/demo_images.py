#!/usr/bin/env python3
"""Draws the demo's product pictures: fixtures/images/products/<product_id>.jpg, one per product of
fixtures/catalog.json, 600x400 JPEG, an illustrated card (sky, sun, a skyline, the city's name and the
product's title). For regeneration only (needs Pillow: `pip install pillow`); the tests read the
committed files and never run this. The same catalog gives the same pictures.

    python3 scripts/demo_images.py [fixtures/catalog.json] [fixtures/images]
"""
import json
import random
import sys
import zlib
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

W, H = 600, 400
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
SKIES = [((255, 183, 120), (255, 231, 196)), ((120, 170, 230), (214, 234, 255)),
         ((250, 140, 150), (255, 221, 200)), ((90, 150, 200), (190, 225, 240)),
         ((150, 200, 170), (230, 245, 225)), ((190, 160, 230), (240, 226, 255))]


def font(size):
    try:
        return ImageFont.truetype(FONT, size)
    except OSError:
        return ImageFont.load_default()


def card(product, city):
    rnd = random.Random(zlib.crc32(str(product["product_id"]).encode()))
    top, bottom = SKIES[rnd.randrange(len(SKIES))]
    img = Image.new("RGB", (W, H))
    d = ImageDraw.Draw(img)
    for y in range(H):
        f = y / H
        d.line([(0, y), (W, y)], fill=tuple(int(a + (b - a) * f) for a, b in zip(top, bottom)))
    sx, sy = rnd.randint(380, 540), rnd.randint(50, 120)
    d.ellipse([sx - 38, sy - 38, sx + 38, sy + 38], fill=(255, 244, 214))
    # A skyline: two rows of buildings, some with a dome or a spire.
    for row, (base, shade) in enumerate([(300, (92, 108, 140)), (330, (52, 64, 92))]):
        x = -10
        while x < W:
            w, h = rnd.randint(28, 70), rnd.randint(50, 150 - row * 40)
            d.rectangle([x, base - h, x + w, H], fill=shade)
            kind = rnd.random()
            if kind < 0.2:
                d.pieslice([x, base - h - w // 2, x + w, base - h + w // 2], 180, 360, fill=shade)
            elif kind < 0.35:
                d.polygon([(x + w // 2, base - h - 40), (x + w // 2 - 6, base - h), (x + w // 2 + 6, base - h)], fill=shade)
            if row == 1:
                for wy in range(base - h + 16, H - 80, 40):
                    d.rectangle([x + 8, wy, x + w - 10, wy + 8], fill=(255, 222, 150))
            x += w + rnd.randint(0, 8)
    d.rectangle([0, 0, W, 64], fill=(255, 255, 255))
    d.text((24, 14), city.upper(), font=font(30), fill=(31, 41, 51))
    title = product["title"]
    if len(title) > 46:
        title = title[:45] + "…"
    d.rounded_rectangle([16, H - 62, W - 16, H - 16], radius=10, fill=(255, 255, 255))
    d.text((30, H - 52), title, font=font(19), fill=(31, 41, 51))
    return img


def main():
    catalog = Path(sys.argv[1] if len(sys.argv) > 1 else "fixtures/catalog.json")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "fixtures/images") / "products"
    data = json.loads(catalog.read_text())
    cities = {c["id"]: c["name"] for c in data["cities"]}
    out.mkdir(parents=True, exist_ok=True)
    for p in data["products"]:
        img = card(p, cities.get(p["city_id"], ""))
        img.save(out / f"{p['product_id']}.jpg", "JPEG", quality=25, optimize=True, subsampling=2)
    print(f"{len(data['products'])} pictures in {out}")


if __name__ == "__main__":
    main()
