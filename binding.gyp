# node-gyp entry point (used by `node-gyp rebuild` and by `prebuildify` in `npm run prebuild`).
# It compiles nothing itself: its single action runs the CMake build (CMakeLists.txt, via
# cmake-js) and places the addon where node-gyp expects it, so there is one build description.
{
  "targets": [
    {
      "target_name": "asdkit",
      "type": "none",
      "actions": [
        {
          "action_name": "cmake_build",
          "inputs": ["CMakeLists.txt", "<!@(node scripts/native-sources.mjs)"],
          "outputs": ["<(PRODUCT_DIR)/asdkit.node"],
          "action": ["node", "scripts/build-native.mjs", "--dest", "<(PRODUCT_DIR)"]
        }
      ]
    }
  ]
}
