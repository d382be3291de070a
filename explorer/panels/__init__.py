"""The parts of the page: one module each (sidebar, map, decoder, selection, canvas, interpolation, your digit)."""
