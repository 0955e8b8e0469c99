"""Image and model work for the inpainting app: masks, compositing, seam metrics, generation.

Nothing here imports gradio. Formats: images are HWC uint8 RGB (or RGBA, or HW uint8 for mode L);
masks are HW bool with True = repaint; points are (x, y) pixel coordinates; boxes are XYXY with
exclusive ends.
"""
