"""Two cameras on one node and one model (parameter `cameras`): bikes.mp4 on one, the carphone clip
(another scene, another size) on the other, their frames interleaved. Each camera's results come
on its own topic with its own image's frame and stamp, and no track id is reported by both."""

NODE_PARAMETERS = {"cameras": ["street", "car"]}
FRAME_IDS = {"street": "street_camera_optical_frame", "car": "car_camera_optical_frame"}


def test_each_camera_reports_in_its_own_frame_and_stamps_with_ids_unique_over_both(client, footage, carphone_frames):
    frames = {"street": footage, "car": carphone_frames}
    stamps = {camera: [] for camera in frames}
    ids = {camera: set() for camera in frames}
    for index in range(client.CONFIRM_FRAMES + 3):
        for camera, clip in frames.items():
            msg, result = client.process_on(camera, clip[index], FRAME_IDS[camera])
            assert result.header.frame_id == FRAME_IDS[camera]
            assert (result.width, result.height) == (msg.width, msg.height)
            stamps[camera].append(msg.header.stamp)
            ids[camera] |= {instance.id for instance in result.instances}

    assert footage[0].shape != carphone_frames[0].shape
    for camera, results in client.camera_results.items():
        assert [r.header.stamp for r in results] == stamps[camera], f"{camera}'s output carries exactly its own images' stamps"
    assert ids["street"] and ids["car"], "both cameras track the prompts"
    assert not ids["street"] & ids["car"], f"a track id on both cameras: {ids}"
    assert {p.text for p in client.get_prompts()} == set(client.START_PROMPTS), "one prompt set for the node"
