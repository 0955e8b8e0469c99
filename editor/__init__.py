"""Gradio UI for the inpainting app. Holds no model code: it calls into pipelines/."""
