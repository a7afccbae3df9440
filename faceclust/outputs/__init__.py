"""What a clustering run writes: montages, tables, thumbnails, the gallery, folders per person."""
