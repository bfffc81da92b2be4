"""Baselines for head-to-head comparison with A.I.R. (lmms-eval models registered by air.lmms_plugin).

- `air_uniform` (baselines.uniform.UniformBaseline): evenly spaced frames, no CLIP.
- `air_clip_topk` (baselines.clip_selectors.ClipTopK): the most query-similar 1-FPS samples.
- `air_bolt` (baselines.clip_selectors.ClipInverseTransform): BOLT's inverse transform sampling.
- `air_aks` (baselines.clip_selectors.AdaptiveKeyframeSampling): AKS-style judge-and-split over the scores.
- `air_mdp3` (baselines.clip_selectors.ListwiseDPP): MDP3-style segment-wise DPP over the CLIP embeddings.
All answer from the A.I.R. budget of the video (or `num_frames=`) with hvp's backbones and prompts.
The pure selection rules live in baselines.selectors (numpy only). Nothing is imported here, so that
lmms-eval's model registry can find the modules without loading torch.
"""
