"""Regenerate reference_encodings.json with the original face_recognition 1.3.0 package.

Not part of the test suite: face_recognition forces a source build of dlib, so run this in a
scratch environment, from the repository root:

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install dlib-bin==20.0.1.post1 numpy pillow
    /tmp/refvenv/bin/pip install --no-binary=face-recognition-models face_recognition_models==0.3.0
    /tmp/refvenv/bin/pip install --no-deps face_recognition==1.3.0
    /tmp/refvenv/bin/python tests/data/make_reference_encodings.py

The tests check that our own dlib calls reproduce these vectors within 1e-6.
"""

import json
from pathlib import Path

import face_recognition

IMAGES = {
    "hog": [
        "dataset/ben_afflek/httpcsvkmeuaeccjpg.jpg",
        "dataset/elton_john/httpftqncomymusicLxZeltonjohnjpg.jpg",
        "dataset/mindy_kaling/httpcdnpastemagazinecomwwwarticlesmindykalingndbookjpg.jpg",
    ],
    "cnn": ["dataset/jerry_seinfeld/httpgraphicsnytimescomimagessectionmoviesfilmographyWireImagejpg.jpg"],
}


def main() -> None:
    references = []
    for model, paths in IMAGES.items():
        for path in paths:
            image = face_recognition.load_image_file(path)
            boxes = face_recognition.face_locations(image, number_of_times_to_upsample=1, model=model)
            encodings = face_recognition.face_encodings(image, boxes)
            references.append(
                {
                    "image_path": path,
                    "detection_method": model,
                    "boxes": [list(box) for box in boxes],
                    "encodings": [encoding.tolist() for encoding in encodings],
                }
            )
            print(model, path, boxes)
    out = Path(__file__).with_name("reference_encodings.json")
    out.write_text(json.dumps(references, indent=1) + "\n")


if __name__ == "__main__":
    main()
