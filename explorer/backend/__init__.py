"""The server side of the app, which draws nothing: models and inference, snapshots, the decode route, files."""
