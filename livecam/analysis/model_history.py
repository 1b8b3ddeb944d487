"""The sha256 of every model file an earlier LiveCam shipped under each manifest name (from
``models/manifest.json``'s history), so that a stale copy left by an older install (a partial
upgrade, a models folder copied across) is named as an older version, not as a damaged file: the
two need the same reinstall, but "corrupt" sends people looking for a bad disk or download.

Kept by hand: a commit that replaces a model file adds the checksum it replaces here
(tests/test_red_team_round21.py checks this list against the manifest's git history).
"""
from __future__ import annotations

EARLIER: dict[str, frozenset[str]] = {
    "face_detection_full_range": frozenset({
        "0966b370570ecea0f499a69a9e4f5628f82df5909d58cee038799430ba7c5b8a",
        "fa67d2daee3ac7f27c14ce98355581cd2b7666097997de3020e3a1700842f3a7",
    }),
    "face_detection_short_range": frozenset({
        "1e5de349d483fa2dd41efe87b7ae81d05c27cc5e3853d9e4981abd5408798d77",
        "b7f8b1661e612daaf00a12ed02aaa2427c60428a06b54eb4956a8b14c883b03a",
    }),
    "face_landmark": frozenset({
        "a069920baf50845afc6fb98199c4b5bf7857c4d2918a511a616fb6324707d275",
        "c17d0d67bfb1070093c60da56bf9d096a5d820fd7554a6465e9e9258edb3d175",
        "f28707b279e990d5b59ae50b1a503fa491b5ab7b4c42174ebba32fc4b59fa93c",
    }),
    "iris_landmark": frozenset({
        "118842fcee3322673628f9f705045524b4ab4e8c7332a92a21b3de1186e12fbb",
        "1a54259dee3532f28e0b1d7e4145d0847643cdec7f44743ef7364110c7d9b562",
        "43581f045343cfe1ae3c48b059f1fdf48686022e37b8e706ec07607186717396",
    }),
    "selfie_segmentation": frozenset({
        "2e865f6e80dc87e16f30a222bfc858880a0d0cc5a68bb9cd6def104fa993b38e",
        "3c2e9eea1fb929dac892096607a3d5cbce80f0793cd11d0f33cb0b81fefa593e",
        "51072c1771b66cc1f9420fa59790f91343d071c3f25347e8576af5e0af249f0d",
        "e9a17aaa68a9a181ce40c333531b582224be8e29b5742e2e0641d7fd19f88af1",
    }),
    "selfie_segmentation_landscape": frozenset({
        "0c6f1624dffb1bc167218b28aae6b9f083f3c4d6b5ac7e4569cbcce8139ea404",
        "24c99bfe4970191db84745198a803e0f0600d7bdee8613b974731373941449bf",
        "89ce65ba689fa7e46ed1aa5c9e7fbf4448c4640a0ed1460f723c8004378cd197",
        "c08d1deb4bfd5a95dbced6c829bf5fba025b154fc19b0950bf544c54164e55d1",
    }),
}
