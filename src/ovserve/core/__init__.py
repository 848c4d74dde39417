"""The serving core: ids, version states, servables, the manager and its handles.

Nothing here knows about protocols, OpenVINO or storage; those plug in from outside.
"""
